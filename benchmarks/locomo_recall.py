"""Evidence recall@1/5/10 on LoCoMo's development split, per search mode and category.

Every dialogue turn is stored as a long-term memory (text "[session date] Speaker:
turn", plus the shared image's caption; the turn's dia_id kept in `extracted_from`),
with the session's previous turn as its `context`, as promotion's messages strategy
stores a conversation (`--without-context` leaves it out), one namespace per
conversation. Each question is then asked as a search in that namespace, and recall@k is
the share of the question's evidence turns in the top k.

Calls the services and selectors in-process (memories_create / memories_search, the
code the HTTP routes run), against the Redis and database the environment names:

    REDIS_URL=redis://127.0.0.1:6492/0 DATABASE_URL=sqlite:///var/locomo.sqlite3 \\
        .venv/bin/python benchmarks/locomo_recall.py

Parameters were chosen on conv-26 and conv-30 only ("tune"); conv-41, conv-42 and
conv-43 are reported apart ("held out"). The data set is never copied into the repo.
"""

import argparse
import collections
import json
import os
import re
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "memoryproject.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from tqdm import tqdm  # noqa: E402

from memory import index  # noqa: E402
from memory.models import MemoryRecord  # noqa: E402
from memory.selectors.long_term import Recency, SearchQuery, memories_search  # noqa: E402
from memory.services.long_term import memories_create  # noqa: E402

DEFAULT_DATA = BASE_DIR.parent / "shared/data/locomo/locomo_dev.json"
TUNE = ("conv-26", "conv-30")
NAMESPACE_PREFIX = "locomo:"
KS = (1, 5, 10)
MODES = ("semantic", "keyword", "hybrid")


def turns(conversation: dict):
    """(session date, turn, the turn before it in the session or None) for every turn."""
    for key, value in conversation.items():
        if key.startswith("session_") and isinstance(value, list):
            date = conversation.get(f"{key}_date_time", "")
            for position, turn in enumerate(value):
                yield date, turn, value[position - 1] if position else None


def turn_text(turn: dict) -> str:
    text = f"{turn['speaker']}: {turn['text']}"
    if turn.get("blip_caption"):
        text += f" [shares a photo: {turn['blip_caption']}]"
    return text


def evidence_ids(question: dict) -> list[str]:
    # A few evidence entries hold several ids in one string ("D8:6; D9:17").
    return [x for entry in question.get("evidence", []) for x in re.split(r"[;,\s]+", entry) if x]


def load(samples: list[dict], *, with_context: bool) -> None:
    MemoryRecord.objects.filter(namespace__startswith=NAMESPACE_PREFIX).delete()
    index.drop_index(delete_documents=True)
    index.ensure_index()
    # The session's date is part of what a turn says ("yesterday", "last week"): it
    # helps both BM25 (month and year words) and the embedding.
    records = [
        {
            "text": f"[{date}] {turn_text(t)}",
            "namespace": NAMESPACE_PREFIX + s["sample_id"],
            "memory_type": "message",
            "extracted_from": [t["dia_id"]],
            "context": turn_text(previous) if previous and with_context else "",
        }
        for s in samples
        for date, t, previous in turns(s["conversation"])
    ]
    started = time.perf_counter()
    for start in tqdm(range(0, len(records), 100), desc="load", unit="batch"):
        memories_create(actor="system:benchmark", records=records[start : start + 100], deduplicate=False)
    print(f"loaded {len(records)} turns in {time.perf_counter() - started:.1f}s")


def evaluate(samples: list[dict], alpha: float, modes: tuple[str, ...] = MODES) -> dict:
    """{(mode, split, category): [recall@1, @5, @10 per question]}"""
    results = collections.defaultdict(list)
    questions = [(s, q) for s in samples for q in s["qa"] if evidence_ids(q)]
    for mode in modes:
        for sample, question in tqdm(questions, desc=mode, unit="q"):
            query = SearchQuery(
                text=question["question"],
                mode=mode,
                hybrid_alpha=alpha,
                limit=max(KS),
                conditions=(index.Condition("namespace", "eq", (NAMESPACE_PREFIX + sample["sample_id"],)),),
                recency=Recency(boost=False),
            )
            found = [dia for hit in memories_search(query=query).hits for dia in hit.record.extracted_from]
            wanted = evidence_ids(question)
            recalls = [sum(e in found[:k] for e in wanted) / len(wanted) for k in KS]
            split = "tune" if sample["sample_id"] in TUNE else "held out"
            for key in ((mode, "all", "all"), (mode, split, "all"), (mode, "all", question["category"])):
                results[key].append(recalls)
    return results


def mean(rows: list[list[float]], i: int) -> float:
    return sum(r[i] for r in rows) / len(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--alpha", type=float, default=None, help="hybrid_alpha (default: the API default)")
    parser.add_argument("--skip-load", action="store_true", help="reuse the records of a previous run")
    parser.add_argument(
        "--without-context", action="store_true", help="store each turn alone, without the turn before it as context"
    )
    parser.add_argument("--modes", default=",".join(MODES), help="the search modes to ask in (comma-separated)")
    args = parser.parse_args()
    from memory.selectors.long_term import DEFAULT_HYBRID_ALPHA

    alpha = DEFAULT_HYBRID_ALPHA if args.alpha is None else args.alpha
    call_command("migrate", verbosity=0)
    samples = json.loads(args.data.read_text())
    if not args.skip_load:
        load(samples, with_context=not args.without_context)
    else:  # as bin/serve's seed_defaults: an index of an older schema is recreated (its documents rewritten)
        index.ensure_index()
        while float(index.get_index().info()["percent_indexed"]) < 1:  # RediSearch indexes them in the background
            time.sleep(0.5)
    modes = tuple(args.modes.split(","))
    results = evaluate(samples, alpha, modes)

    print(
        f"\nLoCoMo dev ({len(samples)} conversations), evidence recall@k, hybrid_alpha={alpha}, "
        f"context: {'none' if args.without_context else 'previous turn'}\n"
    )
    print("| mode | split | questions | R@1 | R@5 | R@10 |")
    print("|---|---|---|---|---|---|")
    for mode in modes:
        for split in ("all", "tune", "held out"):
            rows = results[(mode, split, "all")]
            print(f"| {mode} | {split} | {len(rows)} | " + " | ".join(f"{mean(rows, i):.3f}" for i in range(3)) + " |")
    categories = sorted({key[2] for key in results if key[2] != "all"})
    print("\nRecall@10 per category (all five conversations; 5 = adversarial)\n")
    print("| mode | " + " | ".join(f"cat {c} (n={len(results[(modes[0], 'all', c)])})" for c in categories) + " |")
    print("|---|" + "---|" * len(categories))
    for mode in modes:
        print(f"| {mode} | " + " | ".join(f"{mean(results[(mode, 'all', c)], 2):.3f}" for c in categories) + " |")


if __name__ == "__main__":
    main()
