"""policies.strategies: the params a policy version may set."""

import pytest

from policies.strategies import params_validate


@pytest.mark.parametrize(
    "params, message",
    [
        ({"temprature": 0.2}, "unknown param 'temprature'"),
        ({"max_memories": 0}, "between 1 and 500"),
        ({"max_tokens": 1.5}, "must be an integer"),
        ({"temperature": "hot"}, "must be a number"),
        ({"max_memories": True}, "must be an integer"),
    ],
)
def test_bad_params_are_refused_by_name(params, message):
    with pytest.raises(ValueError, match=message):
        params_validate(params)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"temperature": 0.0, "max_tokens": 1, "max_memories": 500, "max_memory_chars": 1000, "context_messages": 0},
        {"temperature": 2, "context_messages": 20},
    ],
)
def test_params_within_their_ranges_are_accepted(params):
    assert params_validate(params) is None
