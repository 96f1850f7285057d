"""Offline token counting with the cl100k_base encoding.

`tiktoken.get_encoding` downloads its encodings on first use, which fails on a machine
without network (the reference server's issue #237). LiteLLM ships the cl100k_base
BPE file inside its package, so we load that file directly with tiktoken, without
importing litellm (seconds to import; never on a request path) and without letting
tiktoken touch the network or its download cache.
"""

import base64
import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

import tiktoken
from django.core.exceptions import ImproperlyConfigured

# tiktoken names its cached files by the sha1 of the URL; LiteLLM ships them that way.
_CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
_CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
# The encoding's definition, as published with tiktoken (tiktoken_ext/openai_public.py).
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_CL100K_SPECIAL = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}
# Texts up to this size are memoised: a conversation is re-sent whole on every PUT,
# so only its new turns need encoding. Bounded: 4096 entries x 8 KiB at most.
_MEMO_MAX_CHARS = 8192


def bpe_file() -> Path:
    """Where LiteLLM's package keeps the cl100k_base file (found without importing it)."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        raise ImproperlyConfigured("litellm is not installed; it ships the cl100k_base token file")
    name = hashlib.sha1(_CL100K_URL.encode()).hexdigest()
    return Path(spec.submodule_search_locations[0]) / "litellm_core_utils" / "tokenizers" / name


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    path = bpe_file()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImproperlyConfigured(f"cannot read the cl100k_base token file {path}: {exc}") from exc
    if hashlib.sha256(data).hexdigest() != _CL100K_SHA256:
        raise ImproperlyConfigured(f"{path} is not the cl100k_base token file (sha256 mismatch)")
    ranks = {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in data.splitlines() if line)}
    return tiktoken.Encoding(
        name="cl100k_base", pat_str=_CL100K_PATTERN, mergeable_ranks=ranks, special_tokens=_CL100K_SPECIAL
    )


@lru_cache(maxsize=4096)
def _count_memoised(text: str) -> int:
    return len(encoding().encode_ordinary(text))


def count(text: str) -> int:
    """Tokens in `text`; special-token markers in user text count as plain text."""
    if len(text) <= _MEMO_MAX_CHARS:
        return _count_memoised(text)
    return len(encoding().encode_ordinary(text))


def count_message(role: str, content: str) -> int:
    """Tokens one chat turn costs, counted as the reference server does: "role: content"."""
    return count(f"{role}: {content}")
