"""Fixtures the service tests share; the data comes from tests/factories.py."""

import pytest


@pytest.fixture
def policy(llm_settings, publish_policy):
    """A published discrete version on the scripted provider, with retries quick enough to
    run out in a test: 3 attempts, 2 malformed replies, 0.1 s apart, a 1 s call timeout;
    a write schedules its promotion 1 s later."""
    llm_settings.PROMOTION_MAX_ATTEMPTS, llm_settings.PROMOTION_MAX_OUTPUT_ATTEMPTS = 3, 2
    llm_settings.PROMOTION_RETRY_BACKOFF_SECONDS = 0.1
    llm_settings.LLM_TIMEOUT_SECONDS = 1.0
    llm_settings.PROMOTION_DEBOUNCE_SECONDS = 1  # the write below schedules the run
    return publish_policy("discrete")
