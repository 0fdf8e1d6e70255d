"""No credential secret leaves the engine: not in outputs, errors, events or spans."""

from __future__ import annotations

from urllib.parse import quote, quote_plus

from switchboard.engine.contracts import REDACTED, Credential, RunContext
from switchboard.engine.redaction import Redactor
from tests.support.fakes import Completion, FakeOpenAI, HttpTarget, Reply
from tests.unit.engine.harness import (
    API_KEY,
    CRM_KEY,
    HEADER_SECRET,
    INPUT,
    OPENAI,
    OPENAI_KEY,
    PLAIN_HTTP,
    Sink,
    Switch,
    api_key_credential,
    http_credential,
    openai_credential,
    output,
    run,
    serialized,
    workflow,
)


def test_secrets_echoed_by_upstreams_never_leave_the_engine(target: HttpTarget, llm: FakeOpenAI) -> None:
    # Given targets that echo the request (with its key), fail quoting a secret, and a model that repeats one
    target.respond("/echo", Reply(echo=True))
    target.respond("/fail", Reply(status=500, text=f"bad header {HEADER_SECRET}"))
    llm.script(Completion(content=f"I saw {CRM_KEY} and {OPENAI_KEY}", deltas=["I saw ", CRM_KEY, " ok"]))
    definition = workflow(
        INPUT,
        {"id": "echo", "type": "http", "connection": {"connection_id": API_KEY}, "config": {"path": "/echo"}},
        {
            "id": "fail",
            "type": "http",
            "connection": {"connection_id": PLAIN_HTTP},
            "config": {"path": "/fail"},
            "error_handling": {"behavior": "return"},
        },
        {
            "id": "copy",
            "type": "transform",
            "depends": ["echo"],
            "inputs": {"headers": "$.echo.output.body.headers"},
            "config": {"template": "auth={{ headers.authorization }}"},
        },
        {
            "id": "ask",
            "type": "llm",
            "depends": ["copy"],
            "connection": {"connection_id": OPENAI},
            "inputs": {"text": "$.copy.output"},
            "config": {"model": "m", "stream": True, "messages": [{"role": "user", "content": "{{ text }}"}]},
        },
        output(echo="$.echo.output", copy="$.copy.output", fail="$.fail.output", ask="$.ask.output"),
    )
    credentials: list[Credential] = [
        api_key_credential(target),
        http_credential(target, headers={"X-Secret": HEADER_SECRET}),
        openai_credential(llm),
    ]

    # When it runs
    result, sink = run(definition, credentials=credentials)

    # Then the run completed, the secrets really were sent upstream, yet none appears in anything returned
    assert result.status == "completed", result.error
    assert target.requests_to("/echo")[0].headers["authorization"] == f"Bearer {CRM_KEY}"
    everything = serialized(result, sink)
    for secret in (CRM_KEY, HEADER_SECRET, OPENAI_KEY):
        assert secret not in everything
    assert result.nodes["copy"].output == f"auth=Bearer {REDACTED}"
    # And the redacted value is what flowed on: the model never received the key
    assert CRM_KEY not in llm.requests[0].body.decode()
    fail_error = result.nodes["fail"].error
    assert fail_error is not None
    assert fail_error.details == {"status_code": 500, "body": f"bad header {REDACTED}"}


def test_the_redactor_covers_substrings_and_common_encodings() -> None:
    # Given a secret with characters that URL and JSON encoding change
    secret = 'p@ss/w rd"x'
    redactor = Redactor([secret])

    # When values containing it, raw or encoded, are redacted
    value = {
        f"key-{secret}": [f"a{secret}b", quote(secret, safe=""), quote_plus(secret), 'json "p@ss/w rd\\"x"'],
        "n": 1,
    }

    # Then every form is replaced, in keys and values, and other values are untouched
    assert redactor.value(value) == {
        f"key-{REDACTED}": [f"a{REDACTED}b", REDACTED, REDACTED, f'json "{REDACTED}"'],
        "n": 1,
    }


def test_the_redactor_also_uses_the_secret_fields_of_the_config() -> None:
    # Given a credential whose secret_values were left empty
    credential = Credential("connection:con-x", "openai", {"api_key": "sk-forgotten-1"}, ())

    # When a redactor is built for a context holding it
    redactor = Redactor.from_context(RunContext("r", {}, {credential.key: credential}, Sink(), Switch()))

    # Then the config's secret field is still covered
    assert redactor.text("key sk-forgotten-1!") == f"key {REDACTED}!"


def test_a_short_secret_saved_before_the_length_rule_is_replaced_only_where_it_stands_alone() -> None:
    # Given a redactor for a 4-character secret ("conn", saved before secrets needed 8 characters)
    redactor = Redactor(["conn"])

    # When text holding it alone and inside unrelated names is redacted
    value = {"Connection": "keep-alive", "x-conn": "conn", "note": "reconnect; conn=1; disconnected; conn.io"}

    # Then only the secret standing on its own is replaced: header names and words that contain it are kept
    assert redactor.value(value) == {
        "Connection": "keep-alive",
        "x-conn": REDACTED,
        "note": f"reconnect; {REDACTED}=1; disconnected; conn.io",
    }


def test_a_secret_of_full_length_is_replaced_whole_even_inside_a_longer_word() -> None:
    # Given a secret of at least 8 characters
    redactor = Redactor(["Tok3nValue"])
    # When it is glued to other text / Then the whole secret is replaced, and nothing else
    assert redactor.text("xTok3nValuey Tok3nValu") == f"x{REDACTED}y Tok3nValu"
