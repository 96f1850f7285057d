"""Which LLM models may be called: the ones the operator chose, never whatever a policy
editor types.

LiteLLM reads more than a name from a model string. Some providers take the host from
it (`oobabooga/http://10.0.0.7:8080/x` posts the conversation there, ahead of
`api_base`), `ollama/...` reaches localhost, and `bedrock/`, `sagemaker/` and
`vertex_ai/` pick up the host's cloud credentials. So a model is allowed only when it is
LLM_MODEL (always) or an entry of LLM_ALLOWED_MODELS: an exact name, or a shell-style
pattern such as `openai/*`. Exact entries are the operator's own words and are taken as
written; a model that only a pattern matches must look like a model name, and one with a
URL in it is refused whatever the patterns say.

The services check it when a version is created, edited or published, so every door
(admin, management commands, shell) refuses such a version; `memory.llm.chat` checks it
again before every call, so a version saved before the list changed is never called.
"""

import re
from fnmatch import fnmatchcase

from django.conf import settings

# Provider, then the model's own name: letters, digits and . _ : @ / + - (Bedrock ARNs
# have colons, Vertex versions an @). Nothing that could carry a query, a host or a space.
MODEL_NAME = re.compile(r"[\w.:@/+-]+")
PATTERN_MARKERS = ("*", "?", "[")


def model_refusal(model: str) -> str | None:
    """Why a version may not name `model`, or None when the operator allows it.
    An empty model means LLM_MODEL, which is always allowed."""
    allowed = list(settings.LLM_ALLOWED_MODELS)
    if not model or model == settings.LLM_MODEL or model in allowed:
        return None
    if "//" in model or "\\" in model:
        return f"model '{model}' has a URL in it; name a model, and the operator's LLM_API_BASE says where it is served"
    if not MODEL_NAME.fullmatch(model):
        return f"model '{model}' is not a model name: use letters, digits and . _ : @ / + - only"
    patterns = [entry for entry in allowed if any(marker in entry for marker in PATTERN_MARKERS)]
    if any(fnmatchcase(model, pattern) for pattern in patterns):
        return None
    return f"model '{model}' is not allowed; allowed: {allowed_models_text()}"


def allowed_models_text() -> str:
    """What an editor may pick, as one line for the form and the errors."""
    configured = f"{settings.LLM_MODEL} (LLM_MODEL)" if settings.LLM_MODEL else "LLM_MODEL (not set)"
    listed = ", ".join(settings.LLM_ALLOWED_MODELS)
    return (
        f"{configured}, {listed} (LLM_ALLOWED_MODELS)" if listed else f"{configured} only (LLM_ALLOWED_MODELS is empty)"
    )
