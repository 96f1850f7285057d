"""Query embeddings from a dynamically quantised (int8) copy of the packaged model, against
float32: CPU per query, cosine to float32, and recall on LoCoMo dev and the synthetic facts.

Each int8 variant (VARIANTS: one scale per weight tensor, one per output channel, per
channel with the feed-forward output left float32) is
`onnxruntime.quantization.quantize_dynamic` over the float32 export that
memory/embeddings.py writes to EMBEDDING_ONNX_DIR, cached beside it under the source's
name. Recall is exact search in numpy (cosine top 10 over every stored vector of
the question's conversation, or of the fact's user; no HNSW, no BM25), for three pairs of
(query model, stored model): float32/float32 (today's vectors, the baseline computed the
same way), int8/float32 (only queries switched) and int8/int8 (stored vectors re-embedded
too). Stored texts are embedded as the service embeds them (`text` + newline + `context`,
sorted by length, chunks of 64); each question alone, as a lone search does. Vectors are
cached in var/bench/int8/ (npy) by model file and set, so a rerun only re-scores.
"within" says whether LoCoMo R@10, LoCoMo hit@10 and synthetic hit@10 all stay within
TOLERANCE of float32/float32's.

    .venv/bin/python benchmarks/query_embedding_int8.py [--facts 10000] [--timing 500]

No Redis or database needed: the data loading and scoring come from locomo_recall.py
and synthetic_facts.py, the encoder from memory.embeddings.
"""

import argparse
import collections
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "memoryproject.settings")

from benchmarks import locomo_recall, synthetic_facts  # noqa: E402  (locomo_recall sets Django up)
from benchmarks.benchlib import machine  # noqa: E402
from memory import embeddings  # noqa: E402

CACHE_DIR = BASE_DIR / "var" / "bench" / "int8"
K = 10
TOLERANCE = 0.005  # issue 24: adopt only if every recall figure stays this close to float32's
# name: quantize_dynamic's keyword arguments (weights int8; activations quantised per batch at run time).
VARIANTS = {
    "int8": {},  # one scale per weight tensor (the figure: cosine 0.972)
    "int8 per-channel": {"per_channel": True},  # one scale per output column of each weight matrix
    # The feed-forward output's input is GELU's, the widest-ranging activation: kept float32.
    "int8 per-channel ffn-out-float": {"per_channel": True, "nodes_to_exclude": "ffn output"},
}


def _ffn_output_matmuls(source: Path) -> list[str]:
    import onnx

    graph = onnx.load(str(source), load_external_data=False).graph
    return [
        n.name
        for n in graph.node
        if n.op_type == "MatMul" and n.name.endswith("/output/dense/MatMul") and "/attention/" not in n.name
    ]


def quantised(source: Path, name: str) -> Path:
    """The int8 copy of `source`, made once: `<source stem>.<variant>.onnx` beside it."""
    path = source.with_name(f"{source.stem}.{name.replace(' ', '-')}.onnx")
    if not path.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        partial = path.with_suffix(f".{os.getpid()}.partial")
        options = dict(VARIANTS[name])
        if options.get("nodes_to_exclude") == "ffn output":
            options["nodes_to_exclude"] = _ffn_output_matmuls(source)
        quantize_dynamic(str(source), str(partial), weight_type=QuantType.QInt8, **options)
        os.replace(partial, path)
    return path


def encode_stored(encoder, texts: list[str]) -> np.ndarray:
    """As embeddings._encode_local: sorted by length, even chunks of at most ENCODE_CHUNK."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = np.empty((len(texts), 384), dtype=np.float32)
    parts = -(-len(order) // embeddings.ENCODE_CHUNK)
    for p in range(parts):
        rows = order[p * len(order) // parts : (p + 1) * len(order) // parts]
        vectors[rows] = encoder.encode([texts[i] for i in rows])
    return vectors


def encode_queries(encoder, texts: list[str]) -> np.ndarray:
    return np.vstack([encoder.encode([text]) for text in texts])


def cached(model: Path, label: str, texts: list[str], encode) -> np.ndarray:
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:10]
    path = CACHE_DIR / f"{model.stem}-{label}-{digest}.npy"
    if not path.exists():
        started = time.process_time()
        vectors = encode(texts)
        print(f"  encoded {len(texts)} {label} texts with {model.name}: {time.process_time() - started:.1f} s CPU")
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return np.load(path)


def locomo_set(samples: list[dict]):
    """Stored texts (as indexing embeds them), their dia ids and conversations; the questions."""
    stored, dia, conversation = [], [], []
    for s in samples:
        for date, turn, previous in locomo_recall.turns(s["conversation"]):
            text = f"[{date}] {locomo_recall.turn_text(turn)}"
            stored.append(f"{text}\n{locomo_recall.turn_text(previous)}" if previous else text)
            dia.append(turn["dia_id"])
            conversation.append(s["sample_id"])
    questions = [(s["sample_id"], q) for s in samples for q in s["qa"] if locomo_recall.evidence_ids(q)]
    return stored, np.array(dia), np.array(conversation), questions


def top_k(query: np.ndarray, stored: np.ndarray, rows: np.ndarray) -> np.ndarray:
    scores = stored[rows] @ query
    return rows[np.argsort(-scores, kind="stable")[:K]]


def locomo_recall_at_10(questions, q_vectors, s_vectors, dia, conversation) -> dict[str, float]:
    """Mean evidence recall@10 (locomo_recall's R@10) and hit@10 (any evidence in the top 10)."""
    rows_of = {c: np.flatnonzero(conversation == c) for c in set(conversation.tolist())}
    totals = collections.defaultdict(list)
    for (sample_id, question), vector in zip(questions, q_vectors, strict=True):
        found = dia[top_k(vector, s_vectors, rows_of[sample_id])].tolist()
        wanted = locomo_recall.evidence_ids(question)
        recall = sum(e in found for e in wanted) / len(wanted)
        split = "tune" if sample_id in locomo_recall.TUNE else "held out"
        for key in ("all", split):
            totals[f"R@10 {key}"].append(recall)
        totals["hit@10"].append(float(recall > 0))
    return {key: float(np.mean(values)) for key, values in totals.items()}


def synthetic_hits(items, q_vectors, s_vectors) -> int:
    """Questions whose fact is in the top 10 of its user's facts (the user filter implies the namespace)."""
    users = np.array([f.user_id for f in items])
    rows_of = {u: np.flatnonzero(users == u) for u in set(users.tolist())}
    return sum(
        i in top_k(v, s_vectors, rows_of[f.user_id]) for i, (f, v) in enumerate(zip(items, q_vectors, strict=True))
    )


def cpu_per_query(encoders: dict, texts: list[str], rounds: int = 2) -> dict[str, float]:
    """ms of process CPU per single-text encode; the models take turns each round, so load drifts alike."""
    spent = collections.defaultdict(float)
    for encoder in encoders.values():
        encoder.encode(texts[:20])  # warm up: first runs allocate
    for _ in range(rounds):
        for name, encoder in encoders.items():
            started = time.process_time()
            for text in texts:
                encoder.encode([text])
            spent[name] += time.process_time() - started
    return {name: 1000 * total / (rounds * len(texts)) for name, total in spent.items()}


def cosine_row(label: str, cosines: np.ndarray) -> str:
    return f"| {label} | {cosines.mean():.4f} | {np.percentile(cosines, 5):.4f} | {cosines.min():.4f} |"


def all_vectors(models: dict, encoders: dict, stored: list[str], questions: list[str], items) -> dict:
    """{model: {set: vectors}}, from the cache where a previous run left them."""
    out = {}
    for name, path in models.items():

        def stored_side(texts, encoder=encoders[name]):
            return encode_stored(encoder, texts)

        def query_side(texts, encoder=encoders[name]):
            return encode_queries(encoder, texts)

        out[name] = {
            "locomo stored": cached(path, "locomo-stored", stored, stored_side),
            "locomo questions": cached(path, "locomo-questions", questions, query_side),
            "synthetic stored": cached(path, "synthetic-stored", [f.text for f in items], stored_side),
            "synthetic questions": cached(path, "synthetic-questions", [f.question for f in items], query_side),
        }
    return out


def print_recall(vectors: dict, questions, dia, conversation, items) -> None:
    """Each (query, stored) pair's recall, its change from float32/float32, and whether it is within TOLERANCE."""
    print("| query / stored | LoCoMo R@10 all | tune | held out | LoCoMo hit@10 | synthetic hit@10 | found | within |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    baseline = None
    pairs = [("float32", "float32")] + [(n, s) for n in VARIANTS for s in ("float32", n)]
    for query_model, stored_model in pairs:
        q, s = vectors[query_model], vectors[stored_model]
        lo = locomo_recall_at_10(questions, q["locomo questions"], s["locomo stored"], dia, conversation)
        hits = synthetic_hits(items, q["synthetic questions"], s["synthetic stored"])
        scores = (lo["R@10 all"], lo["hit@10"], hits / len(items))
        baseline = baseline or scores
        within = all(abs(a - b) <= TOLERANCE for a, b in zip(scores, baseline, strict=True))
        print(
            f"| {query_model} / {stored_model} | {lo['R@10 all']:.4f} | {lo['R@10 tune']:.4f} | "
            f"{lo['R@10 held out']:.4f} | {lo['hit@10']:.4f} | {scores[2]:.4f} | {hits:,} | "
            f"{'yes' if within else 'no'} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--facts", type=int, default=10_000, help="synthetic facts (every question asked)")
    parser.add_argument("--timing", type=int, default=500, help="single-text encodes per model for the CPU figure")
    args = parser.parse_args()
    source = embeddings._onnx_path()
    if not source.exists():
        embeddings._export_onnx(source)
    models = {"float32": source} | {name: quantised(source, name) for name in VARIANTS}
    encoders = {name: embeddings._OnnxEncoder(path) for name, path in models.items()}
    print(f"machine: {machine()}; {embeddings.settings.EMBEDDING_TORCH_THREADS} intra-op thread(s)")
    print(", ".join(f"{name} {path.name} {path.stat().st_size / 1e6:.0f} MB" for name, path in models.items()))

    samples = json.loads(locomo_recall.DEFAULT_DATA.read_text())
    stored, dia, conversation, questions = locomo_set(samples)
    question_texts = [q["question"] for _, q in questions]
    items = synthetic_facts.facts(args.facts)
    vectors = all_vectors(models, encoders, stored, question_texts, items)

    timing = question_texts[: args.timing]
    ms = cpu_per_query(encoders, timing)
    print(f"\nCPU per single-text query encode ({len(timing)} LoCoMo questions x 2 rounds, process_time), ", end="")
    print(f"load average {os.getloadavg()[0]:.1f}\n\n| model | ms CPU per query |\n|---|---:|")
    for name, value in ms.items():
        print(f"| {name} | {value:.2f} |")

    print(f"\nCosine to float32, each text alone ({len(question_texts)} LoCoMo questions, {len(items)} synthetic)\n")
    print("| model, texts | mean | p5 | min |\n|---|---:|---:|---:|")
    for name in VARIANTS:
        for kind in ("locomo questions", "synthetic questions", "locomo stored"):
            cosines = (vectors[name][kind] * vectors["float32"][kind]).sum(axis=1)
            print(cosine_row(f"{name}, {kind}", cosines))

    print(f"\nExact cosine top {K} (numpy, not HNSW), semantic only. LoCoMo dev: {len(questions)} questions, ", end="")
    print(f"{len(stored)} turns with contexts; synthetic: {len(items)} facts, every question\n")
    print_recall(vectors, questions, dia, conversation, items)


if __name__ == "__main__":
    main()
