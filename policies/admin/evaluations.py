"""Admin of offline evaluations: the list, an evaluation's page (progress while it runs,
the overall figures beside the version's online ones, each example's matched pairs,
misses and forbidden hits), "Evaluate versions" (creates evaluations and sends them to the
worker), and the compare view (an experiment's variants, or chosen versions, side by side).

Evaluations are written only by `memory.services.policy_evaluation`; each view checks
its permission itself (the admin site only checks `is_staff`)."""

from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from memory.actor_names import admin_actor
from memory.eval_dataset import DatasetError, dataset_upload_check, shipped_datasets
from memory.selectors.policy_evaluation import ComparedVersion, evaluations_compare, version_online_figures
from memory.services.policy_evaluation import policy_evaluation_create
from memoryproject.admin_base import ReadOnlyAdmin
from policies.models import Experiment, PolicyEvaluation, PolicyVersion, Purpose

EVALUATE_PERMISSION = "policies.add_policyevaluation"
VIEW_PERMISSION = "policies.view_policyevaluation"
# The page reloads itself this often while the worker is at it.
REFRESH_SECONDS = 3


class EvaluateForm(forms.Form):
    versions = forms.ModelMultipleChoiceField(
        # Evaluations replay extraction: a summary version has nothing to replay.
        queryset=PolicyVersion.objects.select_related("policy").filter(policy__purpose=Purpose.EXTRACTION),
        widget=forms.CheckboxSelectMultiple,
    )
    dataset = forms.ChoiceField(required=False, help_text="A labelled set shipped in benchmarks/data.")
    upload = forms.FileField(required=False, help_text="Or a .jsonl file of your own in the same format.")
    threshold = forms.FloatField(
        min_value=0.01,
        max_value=1.0,
        help_text="Cosine similarity at or above which a memory matches a gold fact (EVAL_MATCH_THRESHOLD).",
    )
    experiment = forms.ModelChoiceField(
        queryset=Experiment.objects.all(), required=False, help_text="Optional: the experiment these are for."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.datasets = {str(p.relative_to(settings.BASE_DIR)): p for p in shipped_datasets()}
        cast(forms.ChoiceField, self.fields["dataset"]).choices = [("", "—"), *((name, name) for name in self.datasets)]
        self.fields["threshold"].initial = settings.EVAL_MATCH_THRESHOLD

    def clean_upload(self) -> UploadedFile[bytes] | None:
        """Refused by its size before it is read: parsing and storing it cost memory and disk."""
        upload = self.cleaned_data.get("upload")
        if upload:
            try:
                dataset_upload_check(size=upload.size)
            except DatasetError as exc:
                raise forms.ValidationError(f"This data set cannot be used: {exc}") from exc
        return upload

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data  # what Form.clean() returns
        if "upload" in self.errors:
            return cleaned  # refused already, with the reason; "pick one" would say nothing more
        if bool(cleaned.get("dataset")) == bool(cleaned.get("upload")):
            raise forms.ValidationError("Pick one data set: a shipped one or an upload.")
        return cleaned


@admin.register(PolicyEvaluation)
class PolicyEvaluationAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "version",
        "dataset_name",
        "status",
        "progress",
        "precision",
        "recall",
        "f1",
        "forbidden_hits",
        "tokens",
        "cost_usd",
        "actor",
    )
    list_filter = ("status", "version__policy", "experiment")
    list_select_related = ("version__policy",)
    change_list_template = "admin/policies/policyevaluation/change_list.html"

    @admin.display(description="progress")
    def progress(self, evaluation: PolicyEvaluation) -> str:
        return format_html(
            '<progress value="{}" max="{}"></progress> {}/{}',
            evaluation.examples_done,
            evaluation.examples_total or 1,
            evaluation.examples_done,
            evaluation.examples_total,
        )

    @admin.display(description="tokens")
    def tokens(self, evaluation: PolicyEvaluation) -> int:
        return evaluation.tokens_in + evaluation.tokens_out

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("evaluate/", view(self.evaluate_view), name="policies_policyevaluation_evaluate"),
            path("compare/", view(self.compare_view), name="policies_policyevaluation_compare"),
            *super().get_urls(),
        ]

    def _context(self, request: HttpRequest, **extra: Any) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "opts": self.model._meta, **extra}

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        queryset = PolicyEvaluation.objects.select_related("version__policy", "experiment")
        evaluation = get_object_or_404(queryset, pk=object_id)
        if not self.has_view_permission(request, evaluation):
            raise PermissionDenied
        examples = list(evaluation.examples.all())
        running = evaluation.status in (PolicyEvaluation.Status.QUEUED, PolicyEvaluation.Status.RUNNING)
        context = self._context(
            request,
            title=f"Evaluation {evaluation.pk}: {evaluation.version}",
            evaluation=evaluation,
            examples=examples,
            failed_examples=sum(1 for example in examples if example.error),
            online=version_online_figures(version=evaluation.version),
            refresh_seconds=REFRESH_SECONDS if running else None,
            compare_url=_compare_url(evaluation),
        )
        return TemplateResponse(request, "admin/policies/policyevaluation/evaluation.html", context)

    def evaluate_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(EVALUATE_PERMISSION):
            raise PermissionDenied
        if request.method == "POST":
            form = EvaluateForm(request.POST, request.FILES)
            if form.is_valid():
                created = _create(request, form)
                if created:
                    return HttpResponseRedirect(_after_create_url(created))
        else:
            form = EvaluateForm(initial=_initial(request))
        return TemplateResponse(
            request,
            "admin/policies/policyevaluation/evaluate.html",
            self._context(request, title="Evaluate versions", form=form),
        )

    def compare_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(VIEW_PERMISSION):
            raise PermissionDenied
        experiment_id = request.GET.get("experiment")
        experiment = get_object_or_404(Experiment, pk=experiment_id) if experiment_id else None
        version_ids = _ids(request.GET.get("versions", ""))
        columns = evaluations_compare(experiment_id=experiment.pk if experiment else None, version_ids=version_ids)
        context = self._context(request, title="Compare evaluations", experiment=experiment, columns=columns)
        context["evaluate_url"] = reverse("admin:policies_policyevaluation_evaluate") + "?" + _versions_query(columns)
        return TemplateResponse(request, "admin/policies/policyevaluation/compare.html", context)


def _create(request: HttpRequest, form: EvaluateForm) -> list[PolicyEvaluation]:
    """Create the evaluations (sent to the worker on commit); a bad data set becomes a form error."""
    upload = form.cleaned_data["upload"]
    source = (
        {"dataset_content": upload.read(), "dataset_name": upload.name}
        if upload
        else {"dataset_path": form.datasets[form.cleaned_data["dataset"]]}
    )
    try:
        created = policy_evaluation_create(
            version_ids=sorted(version.pk for version in form.cleaned_data["versions"]),
            threshold=form.cleaned_data["threshold"],
            experiment=form.cleaned_data["experiment"],
            actor=admin_actor(request.user),
            enqueue=True,
            **source,
        )
    except (DatasetError, UnicodeDecodeError) as exc:
        form.add_error("upload" if upload else "dataset", f"This data set cannot be used: {exc}")
        return []
    messages.success(request, f"{len(created)} evaluation(s) queued; the worker runs them now.")
    return created


def _initial(request: HttpRequest) -> dict[str, Any]:
    """Prefilled from ?versions=1,2 or ?experiment=<id> (its variants' versions)."""
    initial: dict[str, Any] = {"versions": _ids(request.GET.get("versions", ""))}
    experiment_id = request.GET.get("experiment")
    experiment = Experiment.objects.filter(pk=experiment_id).first() if experiment_id else None
    if experiment is not None:
        initial.update(experiment=experiment, versions=list(experiment.variants.values_list("version_id", flat=True)))
    shipped = [str(p.relative_to(settings.BASE_DIR)) for p in shipped_datasets()]
    initial["dataset"] = next((name for name in shipped if name.endswith("extraction_eval.jsonl")), "")
    return initial


def _ids(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip().isdigit()]


def _versions_query(columns: list[ComparedVersion]) -> str:
    return "versions=" + ",".join(str(column.version.pk) for column in columns)


def _compare_url(evaluation: PolicyEvaluation) -> str:
    base = reverse("admin:policies_policyevaluation_compare")
    if evaluation.experiment_id:
        return f"{base}?experiment={evaluation.experiment_id}"
    return f"{base}?versions={evaluation.version_id}"


def _after_create_url(created: list[PolicyEvaluation]) -> str:
    if len(created) == 1:
        return reverse("admin:policies_policyevaluation_change", args=[created[0].pk])
    if created[0].experiment_id:
        return reverse("admin:policies_policyevaluation_compare") + f"?experiment={created[0].experiment_id}"
    versions = ",".join(str(evaluation.version_id) for evaluation in created)
    return reverse("admin:policies_policyevaluation_compare") + f"?versions={versions}"
