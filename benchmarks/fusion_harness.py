"""Compare hybrid fusions offline on LoCoMo dev and the synthetic facts.

`dump` loads both sets in-process (LoCoMo's turns with their contexts, as
benchmarks/locomo_recall.py does, then the synthetic facts), asks every question once per
side (the best DEPTH vector candidates with their cosine distances, the best DEPTH BM25F
candidates with their scores, as `_hybrid` does) and writes them with the right answers
to a JSON file. `compare` fuses those lists with each candidate fusion and prints
LoCoMo recall@10 (all, tune, held out) and synthetic hit@10 per fusion, in seconds.

    .venv/bin/python -m memoryproject.localredis exec --port 6488 -- env \\
        DATABASE_URL=sqlite:///var/fusion.sqlite3 .venv/bin/python benchmarks/fusion_harness.py dump var/fusion.json
    .venv/bin/python benchmarks/fusion_harness.py compare var/fusion.json
"""

import argparse
import json
import math
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
DEPTH = 100
K = 10


def dump(path: Path, facts: int, every: int, only_synthetic: bool) -> None:
    from benchmarks import synthetic_facts

    synthetic_facts.setup()
    from benchmarks import locomo_recall
    from memory import embeddings, index
    from memory.models import MemoryRecord
    from memory.selectors.long_term import _fill_distances

    samples = json.loads(locomo_recall.DEFAULT_DATA.read_text())
    if not only_synthetic:
        locomo_recall.load(samples, with_context=True)
    items = synthetic_facts.facts(facts)
    synthetic_facts.reset()
    synthetic_facts.load(items, deduplicate=False)

    def sides(text, conditions):
        vector = embeddings.embed_query(text)
        vector_hits = index.vector_search(vector, conditions=conditions, k=DEPTH)
        text_hits, _ = index.text_search(text, conditions=conditions, k=DEPTH)
        distances = {h.id: h.vector_distance for h in vector_hits}
        extra = {}
        _fill_distances(vector, extra, [h.id for h in text_hits if h.id not in distances])
        return {
            "vector": [[h.id, h.vector_distance] for h in vector_hits],
            "text": [[h.id, h.text_score] for h in text_hits],
            "text_distances": extra,
        }

    out = {"locomo": [], "synthetic": []}
    if only_synthetic:  # keep the LoCoMo rows of an earlier dump
        out["locomo"], samples = json.loads(path.read_text())["locomo"], []
    turn_of = {
        r.id: r.extracted_from
        for r in MemoryRecord.objects.filter(namespace__startswith=locomo_recall.NAMESPACE_PREFIX).only(
            "id", "extracted_from"
        )
    }
    for sample in samples:
        namespace = locomo_recall.NAMESPACE_PREFIX + sample["sample_id"]
        for question in sample["qa"]:
            wanted = locomo_recall.evidence_ids(question)
            if not wanted:
                continue
            conditions = [index.Condition("namespace", "eq", (namespace,)), *locomo_recall_status()]
            row = sides(question["question"], conditions)
            row["split"] = "tune" if sample["sample_id"] in locomo_recall.TUNE else "held out"
            row["wanted"] = wanted
            row["turns"] = {k: turn_of[k] for k in {i for i, _ in row["vector"] + row["text"]}}
            out["locomo"].append(row)
    for fact in items[::every]:
        conditions = list(synthetic_facts.query_for(fact, "hybrid").conditions) + locomo_recall_status()
        row = sides(fact.question, conditions)
        row["wanted"] = [fact.id]
        out["synthetic"].append(row)
    path.write_text(json.dumps(out))
    print(f"wrote {len(out['locomo'])} LoCoMo and {len(out['synthetic'])} synthetic questions to {path}")


def locomo_recall_status():
    from memory import index
    from memory.models import MemoryStatus

    return [index.Condition("status", "eq", (MemoryStatus.APPROVED,))]


# Fusions: each takes (vector [(id, distance)], text [(id, bm25)], depth) and returns {id: score}.
def minmax(values):
    if not values:
        return {}
    low, high = min(values.values()), max(values.values())
    return {k: (v - low) / (high - low) if high > low else 1.0 for k, v in values.items()}


def zscore(values):
    if not values:
        return {}
    mean = sum(values.values()) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values.values()) / len(values)) or 1.0
    return {k: (v - mean) / sd for k, v in values.items()}


def maxnorm(values):
    high = max(values.values(), default=0.0)
    return {k: v / high if high > 0 else 0.0 for k, v in values.items()}


def raw(values):
    return dict(values)


def linear(norm, alpha, floor=0.0, fill=False):
    def fusion(vector, text, depth):
        known = dict(vector[:depth])
        if fill:
            # Text-only candidates get their own cosine distance (as scoring both sides would).
            known.update({k: fusion.filled[k] for k, _ in text[:depth] if k in fusion.filled})
        v = norm({k: 1 - d for k, d in known.items()})
        t = norm(dict(text[:depth]))
        low_v, low_t = min(v.values(), default=floor), min(t.values(), default=floor)
        miss_v, miss_t = (low_v, low_t) if norm is zscore else (floor, floor)
        return {k: alpha * v.get(k, miss_v) + (1 - alpha) * t.get(k, miss_t) for k in v.keys() | t.keys()}

    return fusion


def gated(norm, alpha, tau):
    """The text part counts in proportion to its best raw BM25, up to tau: a best match
    that holds no informative term (only a word every document has) says nothing."""

    def fusion(vector, text, depth):
        v = norm({k: 1 - d for k, d in vector[:depth]})
        t = norm(dict(text[:depth]))
        gate = min(1.0, (text[0][1] if text else 0.0) / tau)
        miss_v = min(v.values(), default=0.0) if norm is zscore else 0.0
        miss_t = min(t.values(), default=0.0) if norm is zscore else 0.0
        return {k: alpha * v.get(k, miss_v) + (1 - alpha) * gate * t.get(k, miss_t) for k in v.keys() | t.keys()}

    return fusion


def rrf(k_rrf, weight=0.5):
    def fusion(vector, text, depth):
        scores = {}
        for w, ranked in ((weight, vector[:depth]), (1 - weight, text[:depth])):
            for rank, (key, _) in enumerate(ranked):
                scores[key] = scores.get(key, 0.0) + w / (k_rrf + rank + 1)
        return scores

    return fusion


def agreement(low_alpha, high_alpha, top=K):
    """Alpha from how much the two top lists agree: little overlap means trust the vector."""

    def fusion(vector, text, depth):
        overlap = len({k for k, _ in vector[:top]} & {k for k, _ in text[:top]}) / top
        alpha = high_alpha - (high_alpha - low_alpha) * overlap
        return linear(minmax, alpha)(vector, text, depth)

    return fusion


def ranked(scores):
    return [k for k, _ in sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:K]]


def score_set(rows, fusion, depth, locomo):
    results = {"all": [], "tune": [], "held out": []}
    for row in rows:
        vector = [tuple(x) for x in row["vector"]]
        text = [tuple(x) for x in row["text"]]
        fusion.filled = row["text_distances"]
        top = ranked(fusion(vector, text, depth))
        if locomo:
            found = [d for k in top for d in row["turns"][k]]
            value = sum(e in found for e in row["wanted"]) / len(row["wanted"])
            results[row["split"]].append(value)
        else:
            value = float(row["wanted"][0] in top)
        results["all"].append(value)
    return {k: sum(v) / len(v) for k, v in results.items() if v}


FUSIONS = {
    "semantic": lambda v, t, d: {k: 1 - x for k, x in v[:K]},
    "keyword": lambda v, t, d: dict(t[:K]),
    **{f"minmax a={a}": linear(minmax, a) for a in (0.3, 0.4, 0.5, 0.6, 0.7)},
    **{f"zscore a={a}": linear(zscore, a) for a in (0.3, 0.4, 0.5, 0.6, 0.7)},
    **{f"maxnorm a={a}": linear(maxnorm, a) for a in (0.3, 0.4, 0.5, 0.6, 0.7)},
    **{f"minmax filled a={a}": linear(minmax, a, fill=True) for a in (0.3, 0.4, 0.5, 0.6)},
    **{f"zscore filled a={a}": linear(zscore, a, fill=True) for a in (0.3, 0.4, 0.5, 0.6)},
    **{f"rrf k={k} w={w}": rrf(k, w) for k in (1, 5, 20, 60) for w in (0.4, 0.5, 0.6)},
    **{f"gated minmax a={a} tau={tau}": gated(minmax, a, tau) for a in (0.4, 0.5) for tau in (0.5, 1, 2, 4)},
    **{f"gated zscore a={a} tau={tau}": gated(zscore, a, tau) for a in (0.4, 0.5) for tau in (0.5, 1, 2, 4)},
    **{f"agree {lo}-{hi}": agreement(lo, hi) for lo, hi in ((0.3, 0.7), (0.4, 0.8), (0.3, 0.9), (0.4, 0.6))},
}


def compare(path: Path, depths) -> None:
    data = json.loads(path.read_text())
    print(f"{len(data['locomo'])} LoCoMo questions, {len(data['synthetic'])} synthetic questions\n")
    print("| fusion | depth | LoCoMo R@10 all | tune | held out | synthetic hit@10 |\n|---|---:|---:|---:|---:|---:|")
    for name, fusion in FUSIONS.items():
        for depth in depths if name not in ("semantic", "keyword") else (K,):
            loc = score_set(data["locomo"], fusion, depth, True)
            syn = score_set(data["synthetic"], fusion, depth, False)
            cells = [loc["all"], loc["tune"], loc["held out"], syn["all"]]
            print(f"| {name} | {depth} | " + " | ".join(f"{x:.4f}" for x in cells) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump")
    d.add_argument("path", type=Path)
    d.add_argument("--facts", type=int, default=10_000)
    d.add_argument("--every", type=int, default=1, help="ask every n-th synthetic fact's question")
    d.add_argument("--only-synthetic", action="store_true", help="reload only the facts; keep the LoCoMo rows")
    c = sub.add_parser("compare")
    c.add_argument("path", type=Path)
    c.add_argument("--depths", type=int, nargs="+", default=[50])
    args = parser.parse_args()
    if args.command == "dump":
        dump(args.path, args.facts, args.every, args.only_synthetic)
    else:
        compare(args.path, args.depths)


if __name__ == "__main__":
    main()
