"""The only module that imports litellm.

litellm takes seconds to import, so it is imported lazily, on first use, and never
on a request path. Every LLM call in the project goes through `chat` or `embed` (or
`probe`, a tiny `chat` that asks whether the provider answers at all).
"""

import json
import time
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any

from django.conf import settings

from policies.llm_models import model_refusal

# A provider's error is shown (on "Try it", on a failed run) as one line of at most this
# many characters: enough for "Incorrect API key provided", never a whole reply body.
ERROR_MAX_CHARS = 200


class LLMError(Exception):
    """A call that failed; `retryable` says whether trying again may help."""

    retryable = False


class LLMUnavailableError(LLMError):
    """429, 5xx, timeouts and connection failures: retry with backoff."""

    retryable = True


class LLMModelRefusedError(LLMError):
    """The model is not one the operator allows (LLM_MODEL, LLM_ALLOWED_MODELS): no request is made."""


class LLMOutputError(LLMError):
    """The reply was not the JSON we asked for: retry a bounded number of times.
    `raw` is what the model said, for the run's record."""

    retryable = True

    def __init__(self, message: str, *, raw: str = ""):
        super().__init__(message)
        self.raw = raw


@dataclass(frozen=True)
class ChatResult:
    text: str
    data: dict[str, Any] | None  # the parsed JSON object when a json_schema was given
    model: str
    tokens_in: int
    tokens_out: int
    cost_usd: float
    latency_ms: int


@lru_cache(maxsize=1)
def _litellm() -> ModuleType:
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    return litellm


def is_configured(model: str | None = None) -> bool:
    return bool(model or settings.LLM_MODEL)


def chat(
    *,
    messages: list[dict[str, Any]],
    model: str | None = None,
    json_schema: dict[str, Any] | None = None,
    schema_name: str = "response",
    temperature: float = 0.0,
    max_tokens: int | None = None,
    timeout: float | None = None,
) -> ChatResult:
    """One chat completion. With `json_schema`, asks for structured output and parses it.
    A model the operator does not allow is refused before anything is sent (a version
    saved before LLM_ALLOWED_MODELS changed, say): LLMModelRefusedError, not retryable."""
    model = model or settings.LLM_MODEL
    refusal = model_refusal(model)
    if refusal:
        raise LLMModelRefusedError(refusal)
    litellm = _litellm()
    kwargs = {}
    if json_schema is not None:
        kwargs["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": schema_name, "schema": json_schema, "strict": True},
        }
    started = time.monotonic()
    try:
        response = litellm.completion(
            model=model,
            messages=messages,
            api_base=settings.LLM_API_BASE,
            api_key=settings.LLM_API_KEY,
            timeout=timeout or settings.LLM_TIMEOUT_SECONDS,
            temperature=temperature,
            max_tokens=max_tokens,
            num_retries=0,  # retries belong to the caller (Dramatiq), with backoff
            **kwargs,
        )
    except Exception as exc:  # litellm maps every provider error onto its own classes
        raise _classify(exc) from exc
    latency_ms = int((time.monotonic() - started) * 1000)
    text = response.choices[0].message.content or ""
    usage = getattr(response, "usage", None)
    data = None
    if json_schema is not None:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LLMOutputError(f"reply is not valid JSON: {exc.msg} at char {exc.pos}", raw=text) from exc
        if not isinstance(data, dict):
            raise LLMOutputError(f"reply is JSON {type(data).__name__}, expected an object", raw=text)
    return ChatResult(
        text=text,
        data=data,
        model=model,
        tokens_in=getattr(usage, "prompt_tokens", 0) or 0,
        tokens_out=getattr(usage, "completion_tokens", 0) or 0,
        cost_usd=_cost(response),
        latency_ms=latency_ms,
    )


# The probe's whole prompt: the scripted test server knows it, so it answers probes apart.
PROBE_PROMPT = "Reply with the word OK."
PROBE_TIMEOUT_SECONDS = 10.0


def probe(*, model: str | None = None) -> bool:
    """Whether the provider answers again: one request of a few tokens, with a short
    timeout, so the sweep can tell an outage is over before it re-arms failed runs.
    Any answer counts (its text is not checked); any error, retryable or not, is a no."""
    try:
        chat(
            messages=[{"role": "user", "content": PROBE_PROMPT}],
            model=model,
            max_tokens=1,
            timeout=min(settings.LLM_TIMEOUT_SECONDS, PROBE_TIMEOUT_SECONDS),
        )
    except LLMError:
        return False
    return True


def _cost(response: Any) -> float:
    try:
        return float(_litellm().completion_cost(completion_response=response) or 0.0)
    except Exception:  # unknown models have no price: cost is recorded as zero
        return 0.0


def _classify(exc: Exception) -> LLMError:
    litellm = _litellm()
    status = getattr(exc, "status_code", None)
    transient = (
        litellm.exceptions.Timeout,
        litellm.exceptions.APIConnectionError,
        litellm.exceptions.RateLimitError,
        litellm.exceptions.ServiceUnavailableError,
        litellm.exceptions.InternalServerError,
    )
    message = f"{type(exc).__name__}{f' (HTTP {status})' if isinstance(status, int) else ''}: {_one_line(exc)}"
    if isinstance(exc, transient) or (isinstance(status, int) and (status == 429 or status >= 500)):
        return LLMUnavailableError(message)
    return LLMError(message)


def _one_line(exc: Exception) -> str:
    """The first line of a provider's error, cut to ERROR_MAX_CHARS: LiteLLM's messages can
    carry a whole reply body, and a page or a run shows one line (the exception chain
    keeps the rest for the logs)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = lines[0] if lines else "no message"
    return first if len(first) <= ERROR_MAX_CHARS else first[: ERROR_MAX_CHARS - 1] + "…"


def embed(texts: list[str]) -> list[list[float]]:
    """Embed through a LiteLLM embedding model (EMBEDDING_MODEL)."""
    try:
        response = _litellm().embedding(
            model=settings.EMBEDDING_MODEL,
            input=texts,
            api_base=settings.EMBEDDING_API_BASE,
            api_key=settings.EMBEDDING_API_KEY,
            timeout=settings.LLM_TIMEOUT_SECONDS,
        )
    except Exception as exc:
        raise _classify(exc) from exc
    return [item["embedding"] for item in response.data]
