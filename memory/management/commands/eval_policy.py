import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from memory.actor_names import COMMAND_LINE
from memory.services.policy_evaluation import DatasetError, policy_evaluation_create, policy_evaluation_run
from policies.models import PolicyEvaluation

COLUMNS = ("version", "examples", "precision", "recall", "F1", "forbidden hits", "tokens", "cost")


class Command(BaseCommand):
    help = (
        "Replay a labelled data set (JSONL: id, now, messages, gold, forbidden) through policy versions, "
        "here and now, and score it: precision, recall, F1 and forbidden-phrase hits per version. "
        "Nothing is written to memories; the results are stored as PolicyEvaluations."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", required=True, help="a .jsonl file in the evaluation format")
        parser.add_argument("--versions", required=True, help="policy version ids, comma-separated: 3,4")
        parser.add_argument("--threshold", type=float, help="cosine similarity for a match (EVAL_MATCH_THRESHOLD)")
        parser.add_argument("--out", help="write the figures, per version and per example, to this JSON file")

    def handle(
        self, *args: Any, dataset: str, versions: str, threshold: float | None, out: str | None, **options: Any
    ) -> None:
        try:
            version_ids = [int(part) for part in versions.split(",") if part.strip()]
        except ValueError as exc:
            raise CommandError(f"--versions: ids must be integers, comma-separated, not {versions!r}") from exc
        try:
            evaluations = policy_evaluation_create(
                version_ids=version_ids, dataset_path=dataset, threshold=threshold, actor=COMMAND_LINE
            )
        except (OSError, DatasetError, ValueError) as exc:
            raise CommandError(f"{dataset}: {exc}") from exc
        finished = []
        for evaluation in evaluations:
            label = f"v{evaluation.version.number} {evaluation.version.strategy}"
            with tqdm(total=evaluation.examples_total, unit="example", desc=label, file=sys.stderr) as bar:
                finished.append(policy_evaluation_run(evaluation_id=evaluation.pk, progress=bar.update))
        self.stdout.write(_table([_row(evaluation) for evaluation in finished]))
        for evaluation in finished:
            if evaluation.error:
                self.stderr.write(f"evaluation {evaluation.pk} ({evaluation.version}): {evaluation.error}")
        if out:
            with open(out, "w", encoding="utf-8") as file:
                json.dump([_json(evaluation) for evaluation in finished], file, indent=2, ensure_ascii=False)
                file.write("\n")
        failed = [evaluation for evaluation in finished if evaluation.status == evaluation.Status.FAILED]
        if failed:  # a non-zero exit, so a script or CI step notices
            raise CommandError(f"{len(failed)} of {len(finished)} evaluations failed (see above)")


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _row(evaluation: PolicyEvaluation) -> tuple[str, ...]:
    return (
        f"{evaluation.version.policy.name} v{evaluation.version.number} ({evaluation.version.strategy})",
        f"{evaluation.examples_done}/{evaluation.examples_total}",
        _figure(evaluation.precision),
        _figure(evaluation.recall),
        _figure(evaluation.f1),
        str(evaluation.forbidden_hits),
        str(evaluation.tokens_in + evaluation.tokens_out),
        f"{evaluation.cost_usd:.6f}",
    )


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in [COLUMNS, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _json(evaluation: PolicyEvaluation) -> dict[str, Any]:
    fields = ("precision", "recall", "f1", "forbidden_hits", "tokens_in", "tokens_out", "error")
    return {
        "evaluation_id": evaluation.pk,
        "version_id": evaluation.version_id,
        "version": str(evaluation.version),
        "strategy": evaluation.version.strategy,
        "dataset": evaluation.dataset_name,
        "dataset_sha256": evaluation.dataset_sha256,
        "threshold": evaluation.threshold,
        "status": evaluation.status,
        "examples_total": evaluation.examples_total,
        "examples_done": evaluation.examples_done,
        **{name: getattr(evaluation, name) for name in fields},
        "cost_usd": float(evaluation.cost_usd),
        "examples": [
            {
                "id": example.example_id,
                "precision": example.precision,
                "recall": example.recall,
                "f1": example.f1,
                "extracted": example.extracted,
                "matches": example.matches,
                "missed_gold": example.missed_gold,
                "unmatched_memories": example.unmatched_memories,
                "forbidden_hits": example.forbidden_hits,
                "error": example.error,
            }
            for example in evaluation.examples.all()
        ],
    }
