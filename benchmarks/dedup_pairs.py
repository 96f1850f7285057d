"""What dedup does with each pair of the labelled set `benchmarks/data/dedup_pairs.jsonl`.

Per pair, in a fresh tenant (namespace "dedup-pairs-<run>", a new one each run so that
documents left in the index by earlier runs never count; user = the pair's id): the first
text is created, then the second, each through `memories_create(deduplicate=True)` (the
code the POST route runs), and the second's outcome is read:

- merged: folded into the first (by content hash or by vector distance);
- conflict: kept apart and linked to the first as a possible conflict (a detail differs);
- apart: kept apart, not linked (not near enough to be a candidate);
- superseded: the first was marked superseded by the second (only the extraction path
  with an LLM supersedes; memories_create alone never does, so this stays 0 here).

Kinds: same_spelling (case / whitespace / punctuation variants; target 100% merged),
paraphrase (may merge or not), distinct_detail (a date, time, number, amount, count,
name or negation differs; target 0 merged), update (a later correction; kept apart
without an LLM), unrelated. Prints a table per kind and every pair whose outcome misses
its label. Runs against the Redis and database the environment names:

    .venv/bin/python -m memoryproject.localredis exec --port 6489 -- env REDIS_URL=redis://127.0.0.1:6489 \\
        DATABASE_URL=sqlite:///var/dedup_pairs.sqlite3 .venv/bin/python benchmarks/dedup_pairs.py
"""

import argparse
import collections
import json
import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "memoryproject.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from benchmarks.benchlib import machine  # noqa: E402
from memory import index  # noqa: E402
from memory.models import MemoryConflict, MemoryRecord, new_memory_id  # noqa: E402
from memory.services.long_term import memories_create  # noqa: E402
from memory.services.long_term.sameness import differing_details  # noqa: E402

DEFAULT_DATA = BASE_DIR / "benchmarks" / "data" / "dedup_pairs.jsonl"
NAMESPACE = f"dedup-pairs-{new_memory_id().lower()}"
KINDS = ("same_spelling", "paraphrase", "distinct_detail", "update", "unrelated")
OUTCOMES = ("merged", "conflict", "apart", "superseded")


def run_pair(pair: dict) -> tuple[str, dict]:
    tenant = {"namespace": NAMESPACE, "user_id": pair["id"]}
    (first,) = memories_create(actor="system:benchmark", records=[{"text": pair["a"], **tenant}]).outcomes
    (second,) = memories_create(actor="system:benchmark", records=[{"text": pair["b"], **tenant}]).outcomes
    if second.outcome.startswith("merged"):
        outcome = "merged"
    elif MemoryRecord.objects.filter(id=first.id, superseded_at__isnull=False).exists():
        outcome = "superseded"
    elif MemoryConflict.objects.filter(memory_id=second.id, other_id=first.id).exists():
        outcome = "conflict"
    else:
        outcome = "apart"
    return outcome, {"step": second.outcome, "distance": second.distance}


def load_pairs(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def missed(pair: dict, outcome: str) -> bool:
    expected = pair["expected"]
    if expected == "merged":
        return outcome != "merged"
    if expected == "apart":
        return outcome == "merged"
    return False  # paraphrase: either is allowed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    index.ensure_index()
    pairs = load_pairs(args.data)
    counts = {kind: collections.Counter() for kind in KINDS}
    misses = []
    for n, pair in enumerate(pairs, 1):
        outcome, info = run_pair(pair)
        counts[pair["kind"]][outcome] += 1
        if missed(pair, outcome):
            misses.append((pair, outcome, info))
        print(f"\r{n}/{len(pairs)} pairs", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)

    print(f"\nDedup on the labelled pairs ({len(pairs)} pairs, {args.data.name}), no LLM")
    print(f"threshold {settings.MEMORY_DEDUP_DISTANCE_THRESHOLD}; machine: {machine()}\n")
    print("| kind | pairs | merged | linked as conflict | kept apart | superseded | misses |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for kind in KINDS:
        c = counts[kind]
        kind_misses = sum(1 for pair, _, _ in misses if pair["kind"] == kind)
        print(
            f"| {kind} | {sum(c.values())} | {c['merged']} | {c['conflict']} | {c['apart']} | "
            f"{c['superseded']} | {kind_misses} |"
        )
    print("\nMisses (outcome against the label):" if misses else "\nMisses: none")
    for pair, outcome, info in misses:
        reasons = differing_details(pair["a"], pair["b"])
        print(
            f"- {pair['id']} {pair['kind']}{'/' + pair['detail'] if pair.get('detail') else ''}: {outcome} "
            f"({info['step']}, distance {info['distance']}); rule: {reasons or 'no differing detail'}; "
            f"{pair['a']!r} / {pair['b']!r}"
        )


if __name__ == "__main__":
    main()
