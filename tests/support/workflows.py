"""The example workflows every test world deploys, defined once, and the nodes they are made of.

Each is small: ``start`` takes a ``question``; ``shout`` answers it with ``!``; ``check`` (where present)
fails a question containing ``x``; an ``http`` node calls an upstream through a connection (a project
connection or an end user's link for a requirement); ``finish`` maps the results.
"""

from __future__ import annotations

from typing import Any

Node = dict[str, Any]

QUESTION: Node = {"name": "question", "type": "string", "required": True}
COUNT: Node = {"name": "count", "type": "integer"}
DOC: Node = {"name": "doc", "type": "file"}
FILES: Node = {"name": "files", "type": "array"}
ROUTE: Node = {"name": "route", "type": "string", "default": "fast"}

REQUIREMENT_ID = "crm"


def start(*fields: Node) -> Node:
    """The input node: ``question`` and any further ``fields``."""
    return {"id": "start", "type": "input", "fields": [dict(QUESTION), *(dict(f) for f in fields)]}


def shout(depends: str = "start") -> Node:
    """``{{ question }}!``."""
    return {
        "id": "shout",
        "type": "transform",
        "depends": [depends],
        "inputs": {"question": "$.input.question"},
        "config": {"template": "{{ question }}!"},
    }


def check() -> Node:
    """A validator that fails a question containing ``x``."""
    return {
        "id": "check",
        "type": "validator",
        "depends": ["start"],
        "config": {"input": "$.input.question", "regex": "[^x]*"},
    }


def connection_ref(connection_id: str | None = None) -> dict[str, str]:
    """A project connection by ID, or (None) the end user's link for the ``crm`` requirement."""
    return {"connection_id": connection_id} if connection_id else {"requirement": REQUIREMENT_ID}


def http(node_id: str, depends: list[str], connection: dict[str, str], **config: Any) -> Node:
    """An http node through ``connection``; ``config`` as the node type takes it (method, path, body …)."""
    return {"id": node_id, "type": "http", "depends": depends, "connection": connection, "config": config}


def finish(depends: list[str], mappings: dict[str, str]) -> Node:
    return {"id": "finish", "type": "output", "depends": depends, "mappings": mappings}


def crm_requirement(description: str = "Your own CRM API key") -> dict[str, Any]:
    """The ``crm`` requirement: each end user links their own ``http_api_key`` connection."""
    return {
        "id": REQUIREMENT_ID,
        "name": "CRM",
        "type": "connection",
        "connection_type": "http_api_key",
        "title": "Connect your CRM",
        "description": description,
    }


def echo_workflow(connection_id: str | None = None, requirement: bool = False) -> dict[str, Any]:
    """input → shout → (with a connection or the requirement: ``call``, POST /echo) → output ``answer``."""
    nodes = [start(), shout()]
    last = "shout"
    if connection_id or requirement:
        body = {"text": "$.shout.output"}
        nodes.append(
            http("call", ["shout"], connection_ref(connection_id), method="POST", path="/echo", body=body)
        )
        last = "call"
    nodes.append(finish([last], {"answer": f"$.{last}.output"}))
    return {"requirements": [crm_requirement()] if requirement else [], "nodes": nodes}


def files_workflow() -> dict[str, Any]:
    """question (required) is shouted back; a question containing 'x' fails ``check``; ``doc`` and ``files``
    take files; ``count`` is an optional integer."""
    mappings = {"answer": "$.shout.output", "file": "$.input.doc.name", "files": "$.input.files"}
    return {"nodes": [start(COUNT, DOC, FILES), shout(), check(), finish(["shout", "check"], mappings)]}


def upstream_workflow(connection_id: str) -> dict[str, Any]:
    """``files_workflow``'s shout and check, and ``call``: POSTs the question and the ``doc`` file reference
    to the upstream path ``/<route>`` (``fast`` unless the input says ``slow``) with the connection's key."""
    body = {"question": "$.input.question", "doc": "$.input.doc"}
    call = http(
        "call", ["start"], connection_ref(connection_id), method="POST", path="/{{ route }}", body=body
    )
    call["inputs"] = {"route": "$.input.route"}
    mappings = {"answer": "$.shout.output", "upstream": "$.call.output.body", "file": "$.input.doc.name"}
    return {
        "nodes": [start(ROUTE, DOC), shout(), check(), call, finish(["shout", "check", "call"], mappings)]
    }


def lookup_workflow(connection_id: str) -> dict[str, Any]:
    """input → ``lookup`` (GET /search?q=question through the connection) → shout → output; the input also
    takes a file and a list of files, so multipart parts have somewhere to go."""
    params = {"q": "$.input.question"}
    lookup = http(
        "lookup", ["start"], connection_ref(connection_id), method="GET", path="/search", params=params
    )
    mappings = {"answer": "$.shout.output", "hits": "$.lookup.output"}
    return {"nodes": [start(COUNT, DOC, FILES), lookup, shout("lookup"), finish(["shout"], mappings)]}


def requirement_workflow(shared_connection_id: str | None = None) -> dict[str, Any]:
    """input → ``personal`` (POST /personal through the end user's ``crm`` link) → with a shared connection,
    also ``shared`` (POST /shared through it) → output of both bodies."""
    body = {"question": "$.input.question"}
    nodes = [
        start(),
        http("personal", ["start"], connection_ref(), method="POST", path="/personal", body=body),
    ]
    mappings = {"personal": "$.personal.output.body"}
    if shared_connection_id is not None:
        ref = connection_ref(shared_connection_id)
        nodes.append(http("shared", ["start"], ref, method="POST", path="/shared", body=body))
        mappings["shared"] = "$.shared.output.body"
    nodes.append(finish(list(mappings), mappings))
    description = "The API key of your own CRM account: the App looks up your customers with it."
    return {"requirements": [crm_requirement(description)], "nodes": nodes}
