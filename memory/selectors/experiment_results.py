"""An experiment's results page, read: per variant its sessions, the figures of its runs
(memory.selectors.policy_figures), its approval day by day, and its verdict against the
control. Here rather than in policies because the figures read memory's review state."""

from dataclasses import dataclass

from django.db.models import Count

from memory.selectors.policy_figures import DailyApproval, RunFigures, approval_by_day, run_figures
from policies.models import Experiment, ExtractionRun, Variant
from policies.selectors.experiments import experiment_control, experiment_variants
from policies.stats import Verdict, approval_verdict


@dataclass(frozen=True)
class VariantResult:
    variant: Variant
    is_control: bool
    sessions: int  # sessions assigned (stored on first use), whether or not a run followed
    figures: RunFigures
    daily: list[DailyApproval]
    verdict: Verdict | None  # None for the control


@dataclass(frozen=True)
class ExperimentResults:
    experiment: Experiment
    control: Variant | None
    variants: list[VariantResult]


def experiment_results(*, experiment: Experiment) -> ExperimentResults:
    control = experiment_control(experiment=experiment)
    sessions = dict(experiment.assignments.values("variant").annotate(n=Count("id")).values_list("variant", "n"))
    measured = []
    for variant in experiment_variants(experiment=experiment):
        runs = ExtractionRun.objects.filter(experiment=experiment, variant=variant)
        measured.append((variant, run_figures(runs=runs), approval_by_day(runs=runs)))
    control_figures = next((f for v, f, _ in measured if control is not None and v.pk == control.pk), RunFigures())
    rows = [
        VariantResult(
            variant=variant,
            is_control=control is not None and variant.pk == control.pk,
            sessions=sessions.get(variant.pk, 0),
            figures=figures,
            daily=daily,
            verdict=_verdict(control, control_figures, variant, figures),
        )
        for variant, figures, daily in measured
    ]
    return ExperimentResults(experiment=experiment, control=control, variants=rows)


def _verdict(
    control: Variant | None, control_figures: RunFigures, variant: Variant, figures: RunFigures
) -> Verdict | None:
    if control is None or variant.pk == control.pk:
        return None
    return approval_verdict(
        control=control.name,
        control_approved=control_figures.approved,
        control_reviewed=control_figures.reviewed,
        name=variant.name,
        approved=figures.approved,
        reviewed=figures.reviewed,
    )
