"""The labelled dedup pairs through promotion with the scripted LLM: are updates superseded?

The companion of `benchmarks/dedup_pairs.py` (no LLM, `memories_create` only); same
pairs (`benchmarks/data/dedup_pairs.jsonl`), same table. Per pair, in a fresh tenant
(namespace "dedup-pairs-llm", user = the pair's id): a first session says the first
text and is promoted (the scripted model extracts it as an `add`), then a second
session says the second text and is promoted (inline mode, the whole `promotion_run`:
known memories, the one labelled extraction call, create, supersede). The scripted
model labels the second item from the pair's kind, as a model that judges well would:
`update` (replacing the short id the prompt gave the first text) for updates, `noop`
for same_spelling and paraphrase, `add` for distinct_detail and unrelated. So this
measures what the server does with the labels (an update supersedes and is never
merged; an add that differs in a detail is never merged), not how well a real model
labels. Outcomes of the second item:

- merged: nothing new stored (a `noop`, or create's dedup folded it into the first);
- superseded: the first record is superseded by the second;
- conflict / apart: kept apart, linked as a possible conflict or not.

It also checks that every second prompt showed the first text under "k1". Runs against
the Redis and database the environment names:

    .venv/bin/python -m memoryproject.localredis exec --port 6489 -- env REDIS_URL=redis://127.0.0.1:6489 \\
        DATABASE_URL=sqlite:///var/dedup_pairs_llm.sqlite3 .venv/bin/python benchmarks/dedup_pairs_llm.py
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
from benchmarks.dedup_pairs import DEFAULT_DATA, KINDS, load_pairs  # noqa: E402
from benchmarks.dedup_pairs import missed as missed_without_llm  # noqa: E402
from memory import index  # noqa: E402
from memory.models import MemoryConflict, MemoryRecord, SessionPromotion, SourceMessage  # noqa: E402
from memory.services.working_memory import working_memory_put  # noqa: E402
from policies.models import ExtractionRun, Policy  # noqa: E402
from policies.services import policy_version_create, policy_version_publish  # noqa: E402
from tests.llm_server import ScriptedLLMServer  # noqa: E402

NAMESPACE = "dedup-pairs-llm"
LABEL = {"update": "update", "same_spelling": "noop", "paraphrase": "noop"}  # else "add"


def item(text: str, source: str, action: str = "add", replaces: str | None = None) -> dict:
    return {
        "text": text,
        "memory_type": "semantic",
        "topics": [],
        "entities": [],
        "event_date": None,
        "source_message_ids": [source],
        "action": action,
        "replaces": replaces,
    }


def say(pair_id: str, session: str, text: str) -> ExtractionRun:
    """A one-turn session, promoted inline; returns its run."""
    message = {"id": f"{session}-0", "role": "user", "content": text, "created_at": "2024-05-04T09:30:00Z"}
    working_memory_put(
        session_id=f"{pair_id}-{session}",
        namespace=NAMESPACE,
        user_id=pair_id,
        messages=[message],
        memories=[],
        data=None,
        context=None,
        ttl_seconds=None,
        long_term_memory_strategy={},
        window=None,
    )
    return ExtractionRun.objects.filter(namespace=NAMESPACE, session_id=f"{pair_id}-{session}").latest("started_at")


def run_pair(server: ScriptedLLMServer, pair: dict) -> tuple[str, dict]:
    tenant = {"namespace": NAMESPACE, "user_id": pair["id"]}
    MemoryRecord.objects.filter(**tenant).delete()
    for model in (SourceMessage, SessionPromotion, ExtractionRun):
        model.objects.filter(namespace=NAMESPACE, session_id__startswith=f"{pair['id']}-").delete()
    server.reset()
    label = LABEL.get(pair["kind"], "add")
    server.script(
        {"memories": [item(pair["a"], "a-0")]},
        {"memories": [item(pair["b"], "b-0", label, "k1" if label == "update" else None)]},
    )
    first_run = say(pair["id"], "a", pair["a"])
    second_run = say(pair["id"], "b", pair["b"])
    first = MemoryRecord.objects.get(extraction_run=first_run)
    second = MemoryRecord.objects.filter(extraction_run=second_run).first()
    sent = json.loads(server.requests[1]["messages"][1]["content"])
    shown = sent.get("known_memories", [])[:1] == [{"id": "k1", "text": pair["a"]}]
    if first.superseded_by_id is not None and second is not None and first.superseded_by_id == second.id:
        outcome = "superseded"
    elif second is None:
        outcome = "merged"
    elif MemoryConflict.objects.filter(memory_id=second.id, other_id=first.id).exists():
        outcome = "conflict"
    else:
        outcome = "apart"
    info = {
        "label": label,
        "shown": shown,
        "runs": (first_run.status, second_run.status),
        "deduplicated": second_run.memories_deduplicated,
    }
    return outcome, info


def missed(pair: dict, outcome: str) -> bool:
    """As without an LLM, and with one an update must supersede."""
    if pair["kind"] == "update":
        return outcome != "superseded"
    return missed_without_llm(pair, outcome)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    index.ensure_index()
    server = ScriptedLLMServer()
    for key, value in server.env().items():
        setattr(settings, key, value)
    settings.WORKERS_INLINE = True
    policy, _ = Policy.objects.get_or_create(name="default")
    policy_version_publish(
        version=policy_version_create(policy=policy, strategy="discrete", actor="benchmark"), actor="benchmark"
    )

    pairs = load_pairs(args.data)
    counts = {kind: collections.Counter() for kind in KINDS}
    misses, not_shown, failed = [], [], []
    for n, pair in enumerate(pairs, 1):
        outcome, info = run_pair(server, pair)
        counts[pair["kind"]][outcome] += 1
        if missed(pair, outcome):
            misses.append((pair, outcome, info))
        if not info["shown"]:
            not_shown.append(pair["id"])
        if info["runs"] != ("succeeded", "succeeded"):
            failed.append((pair["id"], info["runs"]))
        print(f"\r{n}/{len(pairs)} pairs", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    server.close()

    print(f"\nDedup and supersession on the labelled pairs ({len(pairs)} pairs, {args.data.name}), scripted LLM")
    print(f"threshold {settings.MEMORY_DEDUP_DISTANCE_THRESHOLD}; machine: {machine()}\n")
    print("| kind | pairs | scripted label | merged | superseded | linked as conflict | kept apart | misses |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for kind in KINDS:
        c = counts[kind]
        kind_misses = sum(1 for pair, _, _ in misses if pair["kind"] == kind)
        print(
            f"| {kind} | {sum(c.values())} | {LABEL.get(kind, 'add')} | {c['merged']} | {c['superseded']} | "
            f"{c['conflict']} | {c['apart']} | {kind_misses} |"
        )
    print(f"\nSecond prompts that did not show the first text as k1: {not_shown or 'none'}")
    print(f"Runs that did not succeed: {failed or 'none'}")
    print("\nMisses (outcome against the label):" if misses else "\nMisses: none")
    for pair, outcome, info in misses:
        print(f"- {pair['id']} {pair['kind']}: {outcome} ({info}); {pair['a']!r} / {pair['b']!r}")


if __name__ == "__main__":
    main()
