"""Reads of offline evaluations for the admin: an evaluation beside its version's online
figures, and evaluations side by side (an experiment's variants, or chosen versions)."""

from collections.abc import Sequence
from dataclasses import dataclass

from memory.selectors.policy_figures import RunFigures, run_figures
from policies.models import Experiment, ExtractionRun, PolicyEvaluation, PolicyVersion


@dataclass(frozen=True)
class ComparedVersion:
    """One column of the compare view: a version (or variant), its latest evaluation, its online figures."""

    label: str
    version: PolicyVersion
    evaluation: PolicyEvaluation | None
    online: RunFigures


def version_online_figures(*, version: PolicyVersion) -> RunFigures:
    """What the version did in production: its extraction runs' figures."""
    return run_figures(runs=ExtractionRun.objects.filter(policy_version=version))


def evaluations_compare(*, experiment_id: int | None = None, version_ids: Sequence[int] = ()) -> list[ComparedVersion]:
    """An experiment's variants (each with its own runs' figures), else the given versions,
    each with its latest evaluation (one made for the experiment first), whatever its status:
    one still running shows its progress."""
    if experiment_id is not None:
        experiment = Experiment.objects.get(pk=experiment_id)
        return [
            ComparedVersion(
                label=f"{variant.name}{' (control)' if variant.is_control else ''}",
                version=variant.version,
                evaluation=_latest(variant.version, experiment),
                online=run_figures(runs=ExtractionRun.objects.filter(variant=variant)),
            )
            for variant in experiment.variants.select_related("version__policy")
        ]
    versions = PolicyVersion.objects.select_related("policy").in_bulk(version_ids)
    return [
        ComparedVersion(
            label=str(versions[pk]),
            version=versions[pk],
            evaluation=_latest(versions[pk], None),
            online=version_online_figures(version=versions[pk]),
        )
        for pk in version_ids
        if pk in versions
    ]


def _latest(version: PolicyVersion, experiment: Experiment | None) -> PolicyEvaluation | None:
    evaluations = version.evaluations.order_by("-created_at", "-id")
    if experiment is not None:
        return evaluations.filter(experiment=experiment).first() or evaluations.first()
    return evaluations.first()
