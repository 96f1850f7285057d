"""The experiment's own admin pages and buttons: start, stop, conclude with a winner,
publish the winner (each a POST behind policies.change_experiment, audited with the admin
user), the context of its change page, and its results page."""

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from memory.actor_names import admin_actor
from memory.selectors.experiment_results import experiment_results
from policies.admin.experiment_display import results_context
from policies.admin.experiment_trail import experiment_trail
from policies.models import Experiment, PublishEvent
from policies.services.experiments import (
    experiment_conclude,
    experiment_publish_winner,
    experiment_start,
    experiment_stop,
)

CHANGE_PERMISSION = "policies.change_experiment"
# Publishing the winner changes what the policy publishes, so it also needs that right.
PUBLISH_PERMISSION = "policies.change_policy"


def _experiment_url(experiment_id: int) -> str:
    return reverse("admin:policies_experiment_change", args=[experiment_id])


def _button(
    request: HttpRequest, experiment_id: int, move: Callable[[Experiment, str], object], done: str, *permissions: str
) -> HttpResponse:
    """One status button: POST only, permission checked, the move made by the service,
    the outcome shown as a message and kept in the admin's history."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    # An anonymous user holds no permission; saying so narrows request.user for its pk below.
    if not request.user.is_authenticated or not all(
        request.user.has_perm(p) for p in (CHANGE_PERMISSION, *permissions)
    ):
        raise PermissionDenied
    experiment = get_object_or_404(Experiment, pk=experiment_id)
    actor = admin_actor(request.user)
    try:
        move(experiment, actor)
    except ValidationError as exc:
        messages.error(request, "Nothing changed: " + " ".join(exc.messages))
    else:
        LogEntry.objects.log_actions(
            user_id=request.user.pk,
            queryset=[experiment],
            action_flag=CHANGE,
            change_message=f"{done} by {actor}",
            single_object=True,
        )
        messages.success(request, f"Experiment {experiment.key}: {done.lower()}.")
    return HttpResponseRedirect(_experiment_url(experiment_id))


def start_view(request: HttpRequest, experiment_id: int) -> HttpResponse:
    return _button(request, experiment_id, lambda e, actor: experiment_start(experiment=e, actor=actor), "Started")


def stop_view(request: HttpRequest, experiment_id: int) -> HttpResponse:
    return _button(request, experiment_id, lambda e, actor: experiment_stop(experiment=e, actor=actor), "Stopped")


def conclude_view(request: HttpRequest, experiment_id: int) -> HttpResponse:
    def conclude(experiment: Experiment, actor: str) -> None:
        winner_id = request.POST.get("winner")
        winner = experiment.variants.filter(pk=winner_id).first() if winner_id else None
        experiment_conclude(experiment=experiment, winner=winner, actor=actor)

    return _button(request, experiment_id, conclude, "Concluded")


def publish_winner_view(request: HttpRequest, experiment_id: int) -> HttpResponse:
    def publish(experiment: Experiment, actor: str) -> None:
        experiment_publish_winner(experiment=experiment, actor=actor)

    return _button(request, experiment_id, publish, "Winner published", PUBLISH_PERMISSION)


def change_context(request: HttpRequest, object_id: str) -> dict[str, Any]:
    """What the change page shows beside the fields: the buttons the status allows, and
    the trail of who moved the experiment when."""
    experiment = Experiment.objects.filter(pk=object_id).select_related("winner__version__policy").first()
    if experiment is None:
        return {}
    published = PublishEvent.objects.none()
    if experiment.winner is not None:
        published = PublishEvent.objects.filter(to_version=experiment.winner.version, kind=PublishEvent.Kind.CONCLUDE)
    return {
        "experiment": experiment,
        "variants": list(experiment.variants.select_related("version__policy")),
        "can_change": request.user.has_perm(CHANGE_PERMISSION),
        "can_publish": request.user.has_perm(CHANGE_PERMISSION) and request.user.has_perm(PUBLISH_PERMISSION),
        "trail": experiment_trail(experiment),
        "winner_publications": published,
    }


def results_view(request: HttpRequest, experiment_id: int) -> HttpResponse:
    if not request.user.has_perm("policies.view_experiment"):
        raise PermissionDenied
    experiment = get_object_or_404(Experiment, pk=experiment_id)
    context = {
        **admin.site.each_context(request),
        **results_context(experiment_results(experiment=experiment)),
        "opts": Experiment._meta,
        "title": f"Results of {experiment.key}",
    }
    return TemplateResponse(request, "admin/policies/experiment/results.html", context)
