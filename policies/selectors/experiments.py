"""Reads of A/B experiments: which experiment a session falls in, the variant its hash
picks, the variant it was given, the experiment's variants and control, and its events."""

import hashlib

from policies.models import Assignment, Experiment, ExperimentEvent, Variant


def experiment_in_scope(*, experiment: Experiment, namespace: str | None) -> bool:
    """No namespaces listed means every namespace."""
    return not experiment.namespaces or (namespace or "") in experiment.namespaces


def experiment_for_session(*, namespace: str | None) -> Experiment | None:
    """The running experiment whose scope holds this namespace (starting one refuses an
    overlap, so there is at most one; the earliest started wins if data says otherwise)."""
    running = Experiment.objects.filter(status=Experiment.Status.RUNNING).order_by("started_at", "id")
    return next((e for e in running if experiment_in_scope(experiment=e, namespace=namespace)), None)


def experiment_bucket(*, key: str, namespace: str | None, session_id: str, total_weight: int) -> int:
    """Where the session falls in [0, total_weight): a hash, so the same session lands in
    the same bucket on every host and every run, with nothing stored."""
    digest = hashlib.sha256(f"{key}:{namespace or ''}:{session_id}".encode()).hexdigest()
    return int(digest, 16) % total_weight


def experiment_variants(*, experiment: Experiment) -> list[Variant]:
    """The variants in id order: the order buckets are walked in. (No joins: this runs on
    every first promotion of a session, and a variant's version loads when it is used.)"""
    return list(experiment.variants.order_by("id"))


def variant_by_weight(*, experiment: Experiment, namespace: str | None, session_id: str) -> Variant:
    """The variant the session's bucket falls in under today's weights (the first use of a
    session; afterwards its stored Assignment decides)."""
    variants = experiment_variants(experiment=experiment)
    bucket = experiment_bucket(
        key=experiment.key,
        namespace=namespace,
        session_id=session_id,
        total_weight=sum(v.weight for v in variants),
    )
    for variant in variants:
        if bucket < variant.weight:
            return variant
        bucket -= variant.weight
    raise AssertionError("a bucket below the total weight falls in some variant")


def assignment_variant(*, experiment: Experiment, namespace: str | None, session_id: str) -> Variant | None:
    """The variant stored for the session on its first use, if it has been used."""
    assignment = (
        Assignment.objects.select_related("variant")
        .filter(experiment=experiment, namespace=namespace or "", session_id=session_id)
        .first()
    )
    return assignment.variant if assignment is not None else None


def experiment_control(*, experiment: Experiment) -> Variant | None:
    """The variant the others are compared with: the one marked, else the first."""
    variants = experiment_variants(experiment=experiment)
    return next((v for v in variants if v.is_control), variants[0] if variants else None)


def experiment_events(*, experiment: Experiment) -> list[ExperimentEvent]:
    """Every change made to the experiment, oldest first, with who made it."""
    return list(ExperimentEvent.objects.filter(experiment=experiment).order_by("created_at", "id"))
