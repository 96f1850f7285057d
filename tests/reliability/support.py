"""What the fault scenarios share: a scripted LLM that answers any session, the
exactly-once tally over SourceMessage seqs and records' extracted_from, figures
printed (and kept in var/reliability/figures.jsonl for RELIABILITY.md), and RSS."""

import json
import time
from collections import Counter
from pathlib import Path

from memory.models import MemoryRecord, SourceMessage
from policies.models import ExtractionRun
from tests.helpers import BASE_DIR

FIGURES_FILE = BASE_DIR / "var" / "reliability" / "figures.jsonl"


def one_memory_per_turn(body: dict) -> dict:
    """A discrete-strategy reply: one fact per new turn, citing that turn. Each turn is
    "I like item N." with its own N, so no two facts are the same (dedup keeps both)."""
    conversation = json.loads(next(m["content"] for m in body["messages"] if m["role"] == "user"))
    return {
        "memories": [
            {
                "text": f"User is fond of item number {turn['content'].split()[-1].rstrip('.')}.",
                "memory_type": "semantic",
                "topics": ["items"],
                "entities": [],
                "event_date": None,
                "source_message_ids": [turn["id"]],
                "action": "add",
                "replaces": None,
            }
            for turn in conversation["new_turns"]
        ]
    }


def turns(session: int, start: int, count: int) -> list[dict]:
    """`count` user turns of session `session`, ids s{session}-t{k} from `start`."""
    return [
        {"id": f"s{session}-t{k}", "role": "user", "content": f"I like item {session * 100 + k}."}
        for k in range(start, start + count)
    ]


def extraction_tally(sent: dict[str, list[str]]) -> dict:
    """Per session, the turns persisted (seqs 1..n, in order) and each turn's records.

    lost: turns sent that no record cites; duplicated: citations beyond the first."""
    lost = duplicated = misnumbered = 0
    for session_id, turn_ids in sent.items():
        persisted = list(
            SourceMessage.objects.filter(session_id=session_id).order_by("seq").values_list("seq", "message_id")
        )
        if persisted != list(enumerate(turn_ids, start=1)):
            misnumbered += 1
        cited = Counter(
            turn_id
            for extracted_from in MemoryRecord.objects.filter(session_id=session_id).values_list(
                "extracted_from", flat=True
            )
            for turn_id in extracted_from
        )
        lost += sum(1 for turn_id in turn_ids if cited[turn_id] == 0)
        duplicated += sum(count - 1 for count in cited.values() if count > 1)
    running = ExtractionRun.objects.filter(status=ExtractionRun.Status.RUNNING).count()
    return {"lost": lost, "duplicated": duplicated, "misnumbered_sessions": misnumbered, "runs_running": running}


def report(scenario: str, **figures) -> None:
    """Print the scenario's figures on one line and keep them for RELIABILITY.md."""
    print(f"\nRELIABILITY {scenario}: " + ", ".join(f"{k}={v}" for k, v in figures.items()), flush=True)
    FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
    with FIGURES_FILE.open("a") as out:
        out.write(
            json.dumps({"scenario": scenario, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **figures})
            + "\n"
        )


def rss_mb(pid: int) -> float:
    """Resident memory of one process, in MB (VmRSS from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    """Direct children of `pid` (rundramatiq forks the real worker processes)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found
