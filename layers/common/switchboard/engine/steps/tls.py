"""The SSL context shared by every outbound request of the process (``http``, ``llm`` and ``agent`` nodes).

Building an SSL context loads a CA bundle: 20 to 35 ms of CPU, under the GIL, so parallel ``http`` and
``llm`` nodes that each built one (inside a new ``httpx.Client`` or ``openai.OpenAI``) paid for it one
after the other. Each request still gets its own client (its own connections and cookie jar, its own
credentials and timeout); only the context, which holds the trusted CAs and TLS settings and no request
state, is shared. ``ssl.SSLContext`` is safe to use from several threads.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from typing import TypeVar, cast

import httpx

T = TypeVar("T")

_lock = threading.Lock()
_contexts: dict[str, object] = {}


def _shared(name: str, build: Callable[[], T]) -> T:
    if name not in _contexts:
        with _lock:  # built once, even when the first parallel requests all ask at the same time
            if name not in _contexts:
                _contexts[name] = build()
    return cast(T, _contexts[name])


def http_ssl_context() -> ssl.SSLContext:
    """What ``httpx.Client(trust_env=False)`` would build: certifi's CA bundle, no ``SSL_CERT_*``."""
    return _shared("http", lambda: httpx.create_ssl_context(trust_env=False))
