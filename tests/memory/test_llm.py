"""memory.llm over real HTTP against the scripted provider: results, usage and fault classes."""

import pytest

from memory import llm
from tests.llm_server import Fault

SCHEMA = {
    "type": "object",
    "properties": {"facts": {"type": "array", "items": {"type": "string"}}},
    "required": ["facts"],
    "additionalProperties": False,
}


def test_chat_returns_text_usage_and_latency(llm_settings, llm_server):
    llm_server.script("User likes tea")
    result = llm.chat(messages=[{"role": "user", "content": "say something about tea"}])
    assert result.text == "User likes tea"
    assert result.data is None
    assert (result.tokens_in, result.tokens_out) == (4, 3)
    assert result.cost_usd == 0.0  # the scripted model has no price
    assert result.latency_ms >= 0
    assert llm_server.requests[0]["messages"] == [{"role": "user", "content": "say something about tea"}]


def test_chat_with_schema_asks_for_structured_output_and_parses_it(llm_settings, llm_server):
    llm_server.script({"facts": ["User lives in Lisbon"]})
    result = llm.chat(messages=[{"role": "user", "content": "x"}], json_schema=SCHEMA, schema_name="facts")
    assert result.data == {"facts": ["User lives in Lisbon"]}
    sent = llm_server.requests[0]["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "facts" and sent["json_schema"]["schema"] == SCHEMA


@pytest.mark.parametrize(
    "fault, error_class",
    [
        (Fault.rate_limit(), llm.LLMUnavailableError),
        (Fault.server_error(), llm.LLMUnavailableError),
        (Fault.timeout(4.0), llm.LLMUnavailableError),
        (Fault.malformed_json(), llm.LLMOutputError),
    ],
    ids=["429", "500", "timeout", "malformed-json"],
)
def test_each_provider_fault_maps_to_a_retryable_error(llm_settings, llm_server, fault, error_class):
    llm_server.script(fault)
    with pytest.raises(error_class) as raised:
        llm.chat(messages=[{"role": "user", "content": "x"}], json_schema=SCHEMA)
    assert raised.value.retryable is True
    assert len(llm_server.requests) == 1  # LiteLLM made no retries of its own
    assert llm_server.pending == 0


def test_a_non_object_json_reply_is_an_output_error(llm_settings, llm_server):
    llm_server.script('["not", "an", "object"]')
    with pytest.raises(llm.LLMOutputError, match="expected an object"):
        llm.chat(messages=[{"role": "user", "content": "x"}], json_schema=SCHEMA)


@pytest.mark.parametrize(
    "fault, provider_error",
    [(Fault.bad_request(), "BadRequestError"), (Fault.unauthorized(), "AuthenticationError")],
    ids=["400", "401"],
)
def test_a_refused_request_is_an_error_that_is_not_retried(llm_settings, llm_server, fault, provider_error):
    llm_server.script(fault, {"facts": ["never sent"]})
    with pytest.raises(llm.LLMError) as raised:
        llm.chat(messages=[{"role": "user", "content": "x"}], json_schema=SCHEMA)
    assert type(raised.value) is llm.LLMError  # neither an outage nor a bad reply
    assert raised.value.retryable is False
    assert str(raised.value).startswith(provider_error)
    assert len(llm_server.requests) == 1  # LiteLLM made no retries of its own
    assert llm_server.pending == 1  # the second reply was never asked for
