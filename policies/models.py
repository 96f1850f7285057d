"""Extraction policies, their immutable versions, and the record of every extraction run.

The admin issue extends these (editing, publishing, A/B experiments); promotion reads
them to decide how a session is extracted and writes an ExtractionRun for every attempt.
"""

from django.db import models


class Strategy(models.TextChoices):
    DISCRETE = "discrete", "Discrete facts and events"
    SUMMARY = "summary", "Summary"
    PREFERENCES = "preferences", "Preferences"
    CUSTOM = "custom", "Custom template"
    MESSAGES = "messages", "Raw messages (no LLM)"


class ReviewMode(models.TextChoices):
    AUTO_APPROVE = "approved", "New memories start approved"
    REVIEW = "pending", "New memories wait for review"


class Policy(models.Model):
    """A named extraction policy; `published_version` is what sessions get by default."""

    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    published_version = models.ForeignKey(
        "PolicyVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "policies"

    def __str__(self):
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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["policy", "number"], name="policy_version_number_unique")]
        ordering = ["policy", "-number"]

    def __str__(self):
        return f"{self.policy.name} v{self.number} ({self.strategy})"


class ExtractionRun(models.Model):
    """One promotion attempt for one session: what went in, what came out, what it cost."""

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        SKIPPED = "skipped"

    namespace = models.CharField(max_length=200, blank=True, db_index=True)
    user_id = models.CharField(max_length=200, blank=True, db_index=True)
    session_id = models.CharField(max_length=200, db_index=True)
    policy_version = models.ForeignKey(
        PolicyVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="runs"
    )
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
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["namespace", "user_id", "session_id"], name="run_session_idx")]

    def __str__(self):
        return f"run {self.pk} {self.session_id} {self.status}"
