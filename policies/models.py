"""Extraction policies, their immutable versions, and the record of every extraction run.

Promotion reads them to decide how a session is extracted (an experiment's sticky
assignment first, else the published version) and writes an ExtractionRun for every
attempt (and an ExtractionRunRetry each time a failed one is tried again). Publishing is
recorded as PublishEvents, every change to an experiment as an ExperimentEvent; offline
replays as PolicyEvaluations.
"""

from django.db import models


class Strategy(models.TextChoices):
    DISCRETE = "discrete", "Discrete facts and events"
    SUMMARY = "summary", "Summary"
    PREFERENCES = "preferences", "Preferences"
    CUSTOM = "custom", "Custom template"
    MESSAGES = "messages", "Raw messages (no LLM)"
    # A summary policy's only strategy: a summary view's partition, by the model or, with none, extractively.
    SUMMARIZE = "summarize", "Summarize a summary view's partition"


class ReviewMode(models.TextChoices):
    AUTO_APPROVE = "approved", "New memories start approved"
    REVIEW = "pending", "New memories wait for review"


class Purpose(models.TextChoices):
    EXTRACTION = "extraction", "Extraction"
    SUMMARY = "summary", "Summary views"


class Policy(models.Model):
    """A named policy; `published_version` is what sessions (extraction) or summary views
    (summary) get by default."""

    name = models.SlugField(max_length=100, unique=True)
    purpose = models.CharField(max_length=12, choices=Purpose.choices, default=Purpose.EXTRACTION, db_index=True)
    description = models.TextField(blank=True)
    published_version = models.ForeignKey(
        "PolicyVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "policies"

    def __str__(self) -> str:
        return self.name


class PolicyVersion(models.Model):
    """Prompt, model and parameters. Immutable once an ExtractionRun has used it."""

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    strategy = models.CharField(max_length=20, choices=Strategy.choices)
    prompt_template = models.TextField(blank=True)
    # Empty means the LLM_MODEL setting; the `messages` strategy uses no model.
    model = models.CharField(max_length=200, blank=True)
    params = models.JSONField(default=dict, blank=True)
    review_mode = models.CharField(max_length=10, choices=ReviewMode.choices, default=ReviewMode.AUTO_APPROVE)
    # The actor who created it (`admin:<username>`, `system:defaults`...); "" for versions older than the field.
    created_by = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["policy", "number"], name="policy_version_number_unique")]
        ordering = ["policy", "-number"]

    def __str__(self) -> str:
        return f"{self.policy.name} v{self.number} ({self.strategy})"


class ExtractionRun(models.Model):
    """One promotion attempt for one session: what went in, what came out, what it cost."""

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        SKIPPED = "skipped"

    class Failure(models.TextChoices):
        """Why a failed run failed: decides how its turns are tried again (promotion's rearm)."""

        OUTAGE = "outage", "Provider, database or Redis unavailable"
        OUTPUT = "output", "Malformed replies"
        REFUSED = "refused", "Refused by the provider"
        UNFINISHED = "unfinished", "Attempts did not finish (worker crash or time limit)"
        ERROR = "error", "Other error"
        NO_POLICY = "no_policy", "No published policy"

    namespace = models.CharField(max_length=200, blank=True, db_index=True)
    user_id = models.CharField(max_length=200, blank=True, db_index=True)
    session_id = models.CharField(max_length=200, db_index=True)
    policy_version = models.ForeignKey(
        PolicyVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="runs"
    )
    # Set when an experiment chose the version, so each memory leads back to its variant.
    experiment = models.ForeignKey("Experiment", null=True, blank=True, on_delete=models.PROTECT, related_name="runs")
    variant = models.ForeignKey("Variant", null=True, blank=True, on_delete=models.PROTECT, related_name="runs")
    strategy = models.CharField(max_length=20, choices=Strategy.choices)
    model = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING, db_index=True)
    attempt = models.PositiveIntegerField(default=1)
    # Attempts that ended in a reply off the schema; they have their own, smaller limit.
    malformed_replies = models.PositiveIntegerField(default=0)
    first_message_id = models.CharField(max_length=200, blank=True)
    last_message_id = models.CharField(max_length=200, blank=True)
    message_count = models.PositiveIntegerField(default=0)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    memories_created = models.PositiveIntegerField(default=0)
    memories_deduplicated = models.PositiveIntegerField(default=0)
    # Items of the model's reply that validation refused (empty, too long, echoing the prompt...).
    memories_dropped = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # What the model answered on the last attempt, cut at EXTRACTION_RAW_OUTPUT_MAX_CHARS,
    # so a reviewer sees what it actually said.
    raw_output = models.TextField(blank=True)
    # Set when the run ends failed; blank otherwise (and on runs older than the field).
    failure = models.CharField(max_length=12, choices=Failure.choices, blank=True)
    # Times the run was tried again after failing (the sweep after an outage, or an
    # admin's Retry); each one has its ExtractionRunRetry row.
    rearms = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["namespace", "user_id", "session_id"], name="run_session_idx")]
        permissions = [("retry_extractionrun", "Can retry failed extraction runs")]

    def __str__(self) -> str:
        return f"run {self.pk} {self.session_id} {self.status}"


class SummaryRun(models.Model):
    """One summarizing of one summary-view partition: the version, what went in, what the
    model answered, what it cost. An extractive run (no model) records zero tokens."""

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    view_id = models.CharField(max_length=64, db_index=True)
    group_key = models.CharField(max_length=1000)
    task_id = models.CharField(max_length=128, blank=True, db_index=True)
    policy_version = models.ForeignKey(
        PolicyVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="summary_runs"
    )
    # "llm" or "extractive" (memory.models.SummaryPartition.Kind).
    kind = models.CharField(max_length=10)
    model = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING, db_index=True)
    memory_count = models.PositiveIntegerField(default=0)
    covered_count = models.PositiveIntegerField(default=0)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    raw_output = models.TextField(blank=True)
    error = models.TextField(blank=True)
    actor = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"summary run {self.pk} {self.view_id} {self.status}"


class ExtractionRunRetry(models.Model):
    """One time a failed run was tried again: who did it (`system:sweep` once the provider
    answered again, or `admin:<username>`), and how the run had ended before."""

    run = models.ForeignKey(ExtractionRun, on_delete=models.CASCADE, related_name="retries")
    actor = models.CharField(max_length=200)
    failure = models.CharField(max_length=12, choices=ExtractionRun.Failure.choices, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"run {self.run_id} retried by {self.actor}"


class PublishEvent(models.Model):
    """One publish or rollback of a policy: who moved it, when, from which version to which."""

    class Kind(models.TextChoices):
        PUBLISH = "publish"
        ROLLBACK = "rollback"
        CONCLUDE = "conclude", "Published as an experiment's winner"

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="publish_events")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PUBLISH)
    from_version = models.ForeignKey(PolicyVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="publish_events")
    actor = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.policy} {self.kind} v{self.to_version.number}"


class Experiment(models.Model):
    """An A/B test of policy versions: sessions are split between variants by weight."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        RUNNING = "running"
        STOPPED = "stopped"
        CONCLUDED = "concluded"

    key = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    # Namespaces the experiment applies to; empty means every namespace.
    namespaces = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True)
    winner = models.ForeignKey("Variant", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.key


class ExperimentEvent(models.Model):
    """One change to an experiment, whoever made it (admin, API, shell): who, when, what,
    and what it changed (the winner, the old and new weights)."""

    class Kind(models.TextChoices):
        CREATED = "created"
        STARTED = "started"
        STOPPED = "stopped"
        CONCLUDED = "concluded"
        WINNER_PUBLISHED = "winner_published", "Winner published"
        REWEIGHTED = "reweighted"

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.CharField(max_length=200)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.experiment.key} {self.kind} by {self.actor}"


class Variant(models.Model):
    """One arm of an experiment: a policy version and its share of new sessions."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    name = models.CharField(max_length=50)
    version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="variants")
    weight = models.PositiveIntegerField(default=1)
    # The variant the others are compared with (the first one unless chosen otherwise).
    is_control = models.BooleanField(default=False)

    class Meta:
        ordering = ["experiment", "id"]
        constraints = [models.UniqueConstraint(fields=["experiment", "name"], name="variant_name_unique")]

    def __str__(self) -> str:
        return f"{self.experiment.key}/{self.name}"


class Assignment(models.Model):
    """A session's sticky variant: stored on first use, never reshuffled by new weights."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="assignments")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="assignments")
    namespace = models.CharField(max_length=200, blank=True)
    session_id = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["experiment", "namespace", "session_id"], name="assignment_unique")
        ]

    def __str__(self) -> str:
        return f"{self.experiment.key}: {self.namespace}/{self.session_id} -> {self.variant.name}"


class PolicyEvaluation(models.Model):
    """An offline replay of a labelled data set through one policy version, with its scores."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="evaluations")
    experiment = models.ForeignKey(
        Experiment, null=True, blank=True, on_delete=models.SET_NULL, related_name="evaluations"
    )
    dataset_name = models.CharField(max_length=300)
    dataset_sha256 = models.CharField(max_length=64)
    # Cosine similarity at or above which an extracted memory matches a gold fact.
    threshold = models.FloatField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    examples_total = models.PositiveIntegerField(default=0)
    examples_done = models.PositiveIntegerField(default=0)
    precision = models.FloatField(null=True, blank=True)
    recall = models.FloatField(null=True, blank=True)
    f1 = models.FloatField(null=True, blank=True)
    forbidden_hits = models.PositiveIntegerField(default=0)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    error = models.TextField(blank=True)
    actor = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"evaluation {self.pk} of {self.version} on {self.dataset_name}"


class PolicyEvaluationExample(models.Model):
    """One conversation of an evaluation: what was extracted, what matched, what was missed."""

    evaluation = models.ForeignKey(PolicyEvaluation, on_delete=models.CASCADE, related_name="examples")
    example_id = models.CharField(max_length=200)
    precision = models.FloatField(null=True, blank=True)
    recall = models.FloatField(null=True, blank=True)
    f1 = models.FloatField(null=True, blank=True)
    extracted = models.JSONField(default=list)
    # [{"gold": ..., "memory": ..., "similarity": ...}], one-to-one.
    matches = models.JSONField(default=list)
    missed_gold = models.JSONField(default=list)
    unmatched_memories = models.JSONField(default=list)
    forbidden_hits = models.JSONField(default=list)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["evaluation", "id"]
        constraints = [models.UniqueConstraint(fields=["evaluation", "example_id"], name="evaluation_example_unique")]

    def __str__(self) -> str:
        return f"{self.evaluation_id}/{self.example_id}"
