"""The trail on an experiment's page: who changed it, when, what, and what it changed.

It reads the experiment's ExperimentEvents, which every service writes whoever calls it.
Experiments older than those events keep what was recorded before them: the admin's
history (LogEntry) of the buttons, the conclude PublishEvents and the creator's name."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType

from memory.actor_names import admin_actor
from policies.models import Experiment, ExperimentEvent, PublishEvent
from policies.selectors.experiments import experiment_events

Kind = ExperimentEvent.Kind


@dataclass(frozen=True)
class TrailRow:
    when: datetime
    who: str
    what: str
    detail: str = ""


def _weights(weights: dict[str, int]) -> str:
    return ", ".join(f"{name} ×{weight}" for name, weight in weights.items())


def event_detail(event: ExperimentEvent) -> str:
    """The detail in words; an unknown shape is shown as it is rather than hidden."""
    detail = event.detail or {}
    try:
        if event.kind == Kind.CREATED:
            scope = ", ".join(detail["namespaces"]) or "every namespace"
            return f"{_weights(detail['weights'])}; namespaces: {scope}"
        if event.kind == Kind.CONCLUDED:
            return f"winner {detail['winner']}"
        if event.kind == Kind.WINNER_PUBLISHED:
            before = "nothing" if detail["from_version"] is None else f"v{detail['from_version']}"
            return f"winner {detail['winner']}: {detail['policy']} {before} → v{detail['version']}"
        if event.kind == Kind.REWEIGHTED:
            return ", ".join(f"{name} {detail['old'].get(name)} → {new}" for name, new in detail["new"].items())
    except (KeyError, TypeError, AttributeError):
        pass
    return ", ".join(f"{key}: {value}" for key, value in detail.items())


def _before_events(experiment: Experiment, events: list[ExperimentEvent]) -> list[TrailRow]:
    """What was recorded before the experiment had events (nothing, for a newer one)."""
    first = events[0].created_at if events else None
    logged = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Experiment), object_id=str(experiment.pk)
    ).select_related("user")
    published = PublishEvent.objects.none()
    if experiment.winner is not None:
        published = PublishEvent.objects.filter(
            to_version_id=experiment.winner.version_id, kind=PublishEvent.Kind.CONCLUDE
        ).select_related("to_version")
    if first is not None:
        logged, published = logged.filter(action_time__lt=first), published.filter(created_at__lt=first)
    rows = [
        TrailRow(e.action_time, admin_actor(e.user), e.get_change_message())
        for e in logged.order_by("action_time", "id")
        if e.change_message and not e.is_addition()
    ]
    rows += [TrailRow(p.created_at, p.actor, "Winner published", f"v{p.to_version.number}") for p in published]
    if not any(e.kind == Kind.CREATED for e in events):
        rows.append(TrailRow(experiment.created_at, experiment.created_by or "—", "Created"))
    return rows


def experiment_trail(experiment: Experiment) -> list[TrailRow]:
    """Oldest first."""
    events = experiment_events(experiment=experiment)
    rows = _before_events(experiment, events) + [
        TrailRow(e.created_at, e.actor, e.get_kind_display(), event_detail(e)) for e in events
    ]
    return sorted(rows, key=lambda row: row.when)
