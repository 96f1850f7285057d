"""Writes of A/B experiments: create with variants, start, stop, conclude with a winner,
publish the winner, change weights, and a session's sticky assignment.

Status moves one way: draft -> running -> stopped -> concluded (running -> concluded too).
Each move is dated on the experiment (started_at, stopped_at). Every change, whoever
makes it, leaves an ExperimentEvent with its actor in the same transaction; publishing the
winner also leaves the policy's PublishEvent. A session's variant is stored on its first
use (an Assignment), so new weights apply to new sessions only.
"""

import logging
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from policies.models import (
    Assignment,
    Experiment,
    ExperimentEvent,
    Policy,
    PolicyVersion,
    PublishEvent,
    Purpose,
    Variant,
)
from policies.selectors.experiments import (
    assignment_variant,
    experiment_in_scope,
    experiment_variants,
    variant_by_weight,
)
from policies.services.versions import policy_version_publish

# (name, version or its id, weight) as the admin's form sends it; validated before use.
VariantRow = tuple[str, PolicyVersion | int, Any]
logger = logging.getLogger(__name__)

Status = Experiment.Status
Kind = ExperimentEvent.Kind


class ExperimentStatusError(ValidationError):
    """The move is not allowed from the experiment's current status."""


def _event(experiment: Experiment, kind: str, actor: str, **detail: Any) -> ExperimentEvent:
    """The audit row of one change; the callers are atomic, so it stands or falls with it."""
    logger.info("experiment %s %s by %s %s", experiment.key, kind, actor, detail or "")
    return ExperimentEvent.objects.create(experiment=experiment, kind=kind, actor=actor, detail=detail)


def experiment_variants_validate(variants: list[VariantRow]) -> None:
    """(name, version or its id, weight) rows: at least two, named apart, versions that
    exist, weights of at least 1 (the admin's form asks the same before saving)."""
    if len(variants) < 2:
        raise ValidationError({"variants": "an experiment needs at least two variants"})
    names = [name for name, _, _ in variants]
    if any(not str(name).strip() for name in names) or len(set(names)) != len(names):
        raise ValidationError({"variants": "each variant needs a name of its own"})
    for name, version, weight in variants:
        version_id = version.pk if isinstance(version, PolicyVersion) else version
        if not PolicyVersion.objects.filter(pk=version_id).exists():  # an unsaved version's pk is None: none
            raise ValidationError({"version": f"variant {name!r}: policy version {version_id!r} does not exist"})
        # Experiments split sessions' extraction: a summary view's version would never run.
        if not PolicyVersion.objects.filter(pk=version_id, policy__purpose=Purpose.EXTRACTION).exists():
            raise ValidationError({"version": f"variant {name!r}: policy version {version_id!r} does not extract"})
        variant_weight_validate(name, weight)


def variant_weight_validate(name: str, weight: object) -> None:
    # bool is an int to Python; a weight of True is a mistake, not 1.
    if not isinstance(weight, int) or isinstance(weight, bool) or weight < 1:
        raise ValidationError({"weight": f"variant {name!r}: the weight must be a whole number of at least 1"})


@transaction.atomic
def experiment_create(
    *, key: str, description: str = "", namespaces: Iterable[str] = (), variants: list[VariantRow], actor: str
) -> Experiment:
    """A draft experiment; `variants` are (name, version or its id, weight), the first
    one the control."""
    experiment_variants_validate(variants)
    experiment = Experiment(
        key=key, description=description, namespaces=sorted({n.strip() for n in namespaces if n.strip()})
    )
    experiment.created_by = actor
    experiment.full_clean()
    experiment.save()
    for position, (name, version, weight) in enumerate(variants):
        Variant.objects.create(
            experiment=experiment,
            name=str(name).strip(),
            version_id=getattr(version, "pk", version),
            weight=weight,
            is_control=position == 0,
        )
    weights = {str(name).strip(): weight for name, _, weight in variants}
    _event(experiment, Kind.CREATED, actor, namespaces=experiment.namespaces, weights=weights)
    return experiment


def _locked(experiment: Experiment, allowed: tuple[str, ...], move: str) -> Experiment:
    locked = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if locked.status not in allowed:
        raise ExperimentStatusError(
            {"status": f"cannot {move} experiment {locked.key!r}: it is {locked.status}, not {' or '.join(allowed)}"}
        )
    return locked


def _overlapping(experiment: Experiment) -> Experiment | None:
    """A running experiment sharing a namespace with this one (empty scope = every one)."""
    for other in (
        Experiment.objects.filter(status=Status.RUNNING).exclude(pk=experiment.pk).order_by("started_at", "id")
    ):
        if not other.namespaces or not experiment.namespaces or set(other.namespaces) & set(experiment.namespaces):
            return other
    return None


@transaction.atomic
def experiment_start(*, experiment: Experiment, actor: str) -> Experiment:
    """New sessions in scope are split between the variants from now on."""
    experiment = _locked(experiment, (Status.DRAFT,), "start")
    if len(experiment_variants(experiment=experiment)) < 2:
        raise ValidationError({"variants": "an experiment needs at least two variants"})
    other = _overlapping(experiment)
    if other is not None:
        # One session, one experiment: otherwise which one picks its version is arbitrary.
        raise ValidationError({"namespaces": f"experiment {other.key!r} is running on the same namespaces"})
    experiment.status, experiment.started_at = Status.RUNNING, timezone.now()
    experiment.save(update_fields=["status", "started_at"])
    _event(experiment, Kind.STARTED, actor)
    return experiment


@transaction.atomic
def experiment_stop(*, experiment: Experiment, actor: str) -> Experiment:
    """Sessions go back to the published version; results stay as they are."""
    experiment = _locked(experiment, (Status.RUNNING,), "stop")
    experiment.status, experiment.stopped_at = Status.STOPPED, timezone.now()
    experiment.save(update_fields=["status", "stopped_at"])
    _event(experiment, Kind.STOPPED, actor)
    return experiment


@transaction.atomic
def experiment_conclude(*, experiment: Experiment, winner: Variant | None, actor: str) -> Experiment:
    """Name the winner (stopping the experiment if it still runs); publishing is separate."""
    experiment = _locked(experiment, (Status.RUNNING, Status.STOPPED), "conclude")
    if winner is None or winner.experiment_id != experiment.pk:
        raise ValidationError({"winner": f"the winner must be one of the variants of {experiment.key!r}"})
    experiment.status, experiment.winner = Status.CONCLUDED, winner
    experiment.stopped_at = experiment.stopped_at or timezone.now()
    experiment.save(update_fields=["status", "winner", "stopped_at"])
    _event(experiment, Kind.CONCLUDED, actor, winner=winner.name)
    return experiment


@transaction.atomic
def experiment_publish_winner(*, experiment: Experiment, actor: str) -> Policy:
    """Publish the winner's version; the PublishEvent (kind conclude) names the actor too."""
    experiment = _locked(experiment, (Status.CONCLUDED,), "publish the winner of")
    if experiment.winner_id is None:  # concluding always names one; only a hand-edited row lacks it
        raise ExperimentStatusError({"winner": f"experiment {experiment.key!r} names no winner"})
    winner = Variant.objects.select_related("version").get(pk=experiment.winner_id)
    # Locked before publishing (which locks it again), so from_version is the one replaced.
    policy = Policy.objects.select_for_update().get(pk=winner.version.policy_id)
    previous = policy.published_version
    policy = policy_version_publish(version=winner.version, actor=actor, kind=PublishEvent.Kind.CONCLUDE)
    _event(
        experiment,
        Kind.WINNER_PUBLISHED,
        actor,
        winner=winner.name,
        policy=policy.name,
        version=winner.version.number,
        from_version=previous.number if previous else None,
    )
    return policy


@transaction.atomic
def experiment_variant_weights_set(*, experiment: Experiment, weights: dict[str, int], actor: str) -> Experiment:
    """New weights for new sessions; sessions already assigned keep their variant."""
    experiment = _locked(experiment, (Status.DRAFT, Status.RUNNING, Status.STOPPED), "reweight")
    variants = {v.name: v for v in experiment_variants(experiment=experiment)}
    unknown = sorted(set(weights) - set(variants))
    if unknown:
        raise ValidationError({"weight": f"no variant named {', '.join(map(repr, unknown))} in {experiment.key!r}"})
    for name, weight in weights.items():
        variant_weight_validate(name, weight)
    for name, weight in weights.items():
        Variant.objects.filter(pk=variants[name].pk).update(weight=weight)
    old = {name: variants[name].weight for name in weights}
    _event(experiment, Kind.REWEIGHTED, actor, old=old, new=dict(weights))
    return experiment


def experiment_assign(*, experiment: Experiment, namespace: str | None, session_id: str) -> Variant | None:
    """The session's variant, stored on first use; None when the experiment does not
    take it (not running, or the namespace is out of scope): it gets the published version.

    Two first uses at once: the unique constraint lets one insert win, the other reads it.
    """
    experiment = Experiment.objects.get(pk=experiment.pk)
    stored = assignment_variant(experiment=experiment, namespace=namespace, session_id=session_id)
    if stored is not None or experiment.status != Status.RUNNING:
        return stored if experiment.status == Status.RUNNING else None
    if not experiment_in_scope(experiment=experiment, namespace=namespace):
        return None
    variant = variant_by_weight(experiment=experiment, namespace=namespace, session_id=session_id)
    try:
        with transaction.atomic():
            Assignment.objects.create(
                experiment=experiment, variant=variant, namespace=namespace or "", session_id=session_id
            )
    except IntegrityError:
        return assignment_variant(experiment=experiment, namespace=namespace, session_id=session_id)
    return variant
