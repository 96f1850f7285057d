"""Long-term memory records (the source of truth), their history, and index bookkeeping.

The RedisVL index (memory/index.py) holds one document per record and can always be
rebuilt from these rows: the vector is stored here too, with the name of the model
that produced it, so a rebuild needs no re-embedding and a change of model is visible.
"""

from typing import Any

from django.db import models
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey
from ulid import ULID

from memory.datetimes import datetime_decode, datetime_encode


def new_memory_id() -> str:
    return str(ULID())


# What a caller may give a record; everything else is the server's. Create, overwrite,
# merge and snapshots all work from this one list.
RECORD_FIELDS = (
    "id",
    "text",
    "context",
    "memory_type",
    "namespace",
    "user_id",
    "session_id",
    "topics",
    "entities",
    "event_date",
    "pinned",
    "created_at",
    "last_accessed",
    "extracted_from",
    "extraction_strategy",
    "extraction_strategy_config",
    "metadata",
)
# A snapshot (in history) holds what recreating the record needs; hash and vector are recomputed.
SNAPSHOT_FIELDS = RECORD_FIELDS + ("access_count", "status", "extraction_run_id")
LIST_FIELDS = ("topics", "entities", "extracted_from")
DATETIME_FIELDS = ("event_date", "created_at", "last_accessed")


class MemoryType(models.TextChoices):
    SEMANTIC = "semantic"
    EPISODIC = "episodic"
    MESSAGE = "message"


class MemoryStatus(models.TextChoices):
    APPROVED = "approved"
    PENDING = "pending"
    REJECTED = "rejected"


def record_values(values: dict[str, Any]) -> dict[str, Any]:
    """Record values as a row keeps them, whoever writes them (create, edit): an empty
    namespace, user or session is none, lists lose repeats, an empty context is "", no
    type is `semantic`, `pinned` is a bool, no strategy is "discrete" (the reference's
    default), no metadata or strategy config is {}. Only the names given are returned; the rest
    pass through as they are."""
    cleaned = dict(values)
    for name, value in values.items():
        if name in ("namespace", "user_id", "session_id"):
            cleaned[name] = value or None
        elif name in LIST_FIELDS:
            cleaned[name] = list(dict.fromkeys(value or []))
        elif name == "context":
            cleaned[name] = value or ""
        elif name == "memory_type":
            cleaned[name] = value or MemoryType.SEMANTIC
        elif name == "pinned":
            cleaned[name] = bool(value)
        elif name == "extraction_strategy":
            cleaned[name] = value or "discrete"
        elif name in ("extraction_strategy_config", "metadata"):
            cleaned[name] = value or {}
    return cleaned


class MemoryRecord(models.Model):
    id = models.CharField(primary_key=True, max_length=128, default=new_memory_id)
    text = models.TextField()
    # What the text is read in, e.g. the message a reply answers. Searched and embedded
    # with the text (a bare "Yes, yesterday!" is unfindable otherwise), never part of it.
    context = models.TextField(blank=True, default="")
    memory_type = models.CharField(max_length=10, choices=MemoryType.choices, default=MemoryType.SEMANTIC)
    namespace = models.CharField(max_length=200, null=True, blank=True)
    user_id = models.CharField(max_length=200, null=True, blank=True)
    session_id = models.CharField(max_length=200, null=True, blank=True)
    topics = models.JSONField(default=list, blank=True)
    entities = models.JSONField(default=list, blank=True)
    event_date = models.DateTimeField(null=True, blank=True)
    pinned = models.BooleanField(default=False)
    access_count = models.PositiveIntegerField(default=0)
    last_accessed = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # When this server stored the row (created_at may come from the client).
    persisted_at = models.DateTimeField(default=timezone.now)
    memory_hash = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=10, choices=MemoryStatus.choices, default=MemoryStatus.APPROVED, db_index=True)
    extracted_from = models.JSONField(default=list, blank=True)
    # How the record was extracted (the reference's field: "discrete" unless promotion
    # says otherwise) and with what settings; kept and returned, `extraction_strategy`
    # is also a search filter.
    extraction_strategy = models.CharField(max_length=50, default="discrete")
    extraction_strategy_config = models.JSONField(default=dict, blank=True)
    # The caller's free JSON: returned and editable, never indexed (capped by MEMORY_METADATA_MAX_BYTES).
    metadata = models.JSONField(default=dict, blank=True)
    extraction_run = models.ForeignKey(
        "policies.ExtractionRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="memories"
    )
    embedding = models.BinaryField(null=True, blank=True)
    embedding_model = models.CharField(max_length=200, blank=True)
    # Set in the same transaction as every write the index must see; cleared once the
    # document is written. The periodic sweep re-indexes whatever is still marked.
    index_pending = models.BooleanField(default=True, db_index=True)
    # An update keeps both rows: the old one points at the record that replaced it and
    # leaves default search (the chain shows in history and on request in search).
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="supersedes"
    )
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["namespace", "user_id", "memory_hash"], name="memory_owner_hash_idx"),
            models.Index(fields=["namespace", "user_id", "created_at"], name="memory_owner_created_idx"),
            # A status's records by date: a summary view's window of approved records, and
            # the oldest pending ones (the admin home page), without reading every record.
            models.Index(fields=["status", "created_at"], name="memory_status_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.id}: {self.text[:60]}"

    def snapshot(self) -> dict[str, Any]:
        """The record as JSON-safe values, for history (`from_snapshot` reads it back)."""
        values = {name: getattr(self, name) for name in SNAPSHOT_FIELDS}
        for name in LIST_FIELDS:
            values[name] = list(values[name] or [])
        for name in DATETIME_FIELDS:
            values[name] = datetime_encode(values[name])
        return values

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any]) -> "MemoryRecord":
        """An unsaved record with a snapshot's fields and defaults for those it lacks.
        Hash, vector and bookkeeping timestamps are the caller's to set."""
        values = {name: snapshot.get(name) for name in SNAPSHOT_FIELDS}
        for name in LIST_FIELDS:
            values[name] = list(values[name] or [])
        now = timezone.now()
        for name in DATETIME_FIELDS:
            values[name] = datetime_decode(values[name])
        values["created_at"] = values["created_at"] or now
        values["last_accessed"] = values["last_accessed"] or now
        values["context"] = values["context"] or ""
        values["memory_type"] = values["memory_type"] or MemoryType.SEMANTIC
        values["status"] = values["status"] or MemoryStatus.APPROVED
        values["pinned"] = bool(values["pinned"])
        values["access_count"] = values["access_count"] or 0
        values["extraction_strategy"] = values["extraction_strategy"] or "discrete"
        values["extraction_strategy_config"] = values["extraction_strategy_config"] or {}
        values["metadata"] = values["metadata"] or {}
        return cls(**values)


class MemoryIndexRemoval(models.Model):
    """A deleted record whose index document may still exist (a tombstone for the sweep)."""

    memory_id = models.CharField(primary_key=True, max_length=128)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"tombstone {self.memory_id}"


class MemoryHistory(models.Model):
    """What happened to a record, who did it and why, with enough state to undo it.

    `memory_id` is not a foreign key: history outlives the record it describes. It
    carries the record's owner (`namespace`, `user_id`) so erasing a user finds every
    row. `actor` names who acted (see `memory.actor_names`). `detail` holds `before` and
    `after` snapshots for changes, and for a merge the absorbed record's snapshot
    (`merged`), what the merge added (`added`), the target's fields before it
    (`before`), the dedup step and distance. A deleted record's snapshot is dropped
    after MEMORY_DELETED_RETENTION_DAYS (`purged_at`); until then the delete can be undone.
    """

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        EDITED = "edited", "Edited"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        PINNED = "pinned", "Pinned"
        UNPINNED = "unpinned", "Unpinned"
        MERGED = "merged", "Another record was merged into this one"
        UNMERGED = "unmerged", "A merge was undone"
        DELETED = "deleted", "Deleted"
        RESTORED = "restored", "Restored after a delete"
        SUPERSEDED = "superseded", "Superseded by a newer record"

    memory_id = models.CharField(max_length=128, db_index=True)
    namespace = models.CharField(max_length=200, null=True, blank=True)
    user_id = models.CharField(max_length=200, null=True, blank=True)
    actor = models.CharField(max_length=200, blank=True, db_index=True)
    action = models.CharField(max_length=10, choices=Action.choices)
    reason = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "memory history"
        indexes = [models.Index(fields=["namespace", "user_id"], name="history_owner_idx")]

    def __str__(self) -> str:
        return f"{self.memory_id} {self.action} {self.created_at:%Y-%m-%d %H:%M}"

    @classmethod
    def of(
        cls, record: MemoryRecord, *, action: str, actor: str, reason: str = "", detail: dict[str, Any] | None = None
    ) -> "MemoryHistory":
        """An unsaved entry about `record`, of its owner."""
        return cls(
            memory_id=record.id,
            namespace=record.namespace,
            user_id=record.user_id,
            actor=actor,
            action=action,
            reason=reason,
            detail=detail or {},
        )


class MemoryConflict(models.Model):
    """Two records of one owner (namespace and user) that look alike but differ in a
    detail that carries meaning (a number, a date, a name, a negation): kept apart,
    linked for a reviewer."""

    memory = models.ForeignKey(MemoryRecord, on_delete=models.CASCADE, related_name="conflicts")
    other = models.ForeignKey(MemoryRecord, on_delete=models.CASCADE, related_name="+")
    reason = models.TextField()
    distance = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["memory", "other"], name="memory_conflict_unique")]

    def __str__(self) -> str:
        return f"{self.memory_id} may conflict with {self.other_id}"


class ErasureReceipt(models.Model):
    """Proof that one user's memory in one namespace was erased: what was removed, by kind
    and count. No personal text: the user is kept only as a keyed hash (`user_digest`,
    see `memory.services.erasure.user_digest`), so an operator can check a given user."""

    namespace = models.CharField(max_length=200, blank=True)
    user_digest = models.CharField(max_length=64, db_index=True)
    actor = models.CharField(max_length=200)
    counts = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"erasure {self.pk} in {self.namespace or '(no namespace)'} at {self.created_at:%Y-%m-%d %H:%M}"


class SourceMessage(models.Model):
    """A conversation turn as promotion received it, kept for provenance after the
    working memory that held it has expired. `seq` is the order of arrival in the session."""

    namespace = models.CharField(max_length=200, blank=True)
    session_id = models.CharField(max_length=200)
    message_id = models.CharField(max_length=200)
    user_id = models.CharField(max_length=200, blank=True)
    seq = models.PositiveIntegerField()
    role = models.TextField()
    content = models.TextField()
    created_at = models.DateTimeField()
    persisted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["namespace", "session_id", "message_id"], name="source_message_unique"),
            models.UniqueConstraint(fields=["namespace", "session_id", "seq"], name="source_message_seq_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}#{self.seq} {self.role}: {self.content[:60]}"


class SessionPromotion(models.Model):
    """Per-session promotion state. `extracted_seq` is the watermark: turns up to it have
    been extracted. It moves in the same transaction as the records it produced, so a
    redelivered job finds nothing new."""

    namespace = models.CharField(max_length=200, blank=True)
    session_id = models.CharField(max_length=200)
    user_id = models.CharField(max_length=200, blank=True)
    persisted_seq = models.PositiveIntegerField(default=0)
    extracted_seq = models.PositiveIntegerField(default=0)
    # Session `memories[]` already promoted: memory id -> content hash (an edit re-promotes).
    promoted_memories = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["namespace", "session_id"], name="session_promotion_unique")]
        # Only the sessions behind their watermark, for the extraction lag (/metrics and the
        # admin home page): few at any time, however many sessions exist.
        indexes = [
            models.Index(
                fields=["namespace", "session_id"],
                condition=models.Q(extracted_seq__lt=models.F("persisted_seq")),
                name="session_promotion_behind_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.session_id}: extracted {self.extracted_seq} of {self.persisted_seq}"


# --- Credentials (issue 13) ----------------------------------------------------------------

ALL_NAMESPACES = "*"


class ApiKey(AbstractAPIKey):
    """A REST and MCP credential. djangorestframework-api-key stores only a SHA-512 hash
    of the secret and finds a key by its 8-character prefix (one indexed lookup, however
    many keys exist); the secret is shown once, at creation.

    The scope: one tenant; its namespaces (each owned by that tenant, see
    `TenantNamespace`), or ["*"] for an operator key over every namespace; optionally
    fixed user ids ([] means any user); and what it may do. `review` (changing a
    memory's review status) is a reviewer's: an agent's key writes memories but cannot
    overrule the review desk, so no key holds it unless it is asked for."""

    tenant = models.CharField(max_length=200)
    namespaces = models.JSONField(default=list)
    user_ids = models.JSONField(default=list, blank=True)
    can_read = models.BooleanField(default=True)
    can_write = models.BooleanField(default=True)
    can_delete = models.BooleanField(default=False)
    can_review = models.BooleanField(default=False)
    # Written at most once a minute per key (a cache check), never on every request.
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=200, blank=True)
    revoked_by = models.CharField(max_length=200, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    @property
    def permissions(self) -> tuple[str, ...]:
        return tuple(name for name in ("read", "write", "delete", "review") if getattr(self, f"can_{name}"))


class TenantNamespace(models.Model):
    """The tenant boundary: a namespace belongs to exactly one tenant, the first whose
    key (or JWT) named it. A key or JWT of another tenant on that namespace is refused."""

    namespace = models.CharField(max_length=200, unique=True)
    tenant = models.CharField(max_length=200, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Who claimed it: the actor that created the key (`admin:<user>`, `system:command-line`),
    # or the JWT that named it first (`api:jwt-<tenant>/<sub>`, `mcp:jwt-...`).
    claimed_by = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.namespace} (tenant {self.tenant})"


# --- Summary views (issue 22) -------------------------------------------------------------


class SummaryView(models.Model):
    """A partitioned summary of long-term memory: the reference's SummaryView, owned by a
    tenant. Its reach (`namespaces`, `user_ids`) is the creating credential's scope, so
    its partitions never hold memories that credential could not read; a caller sees the
    view only if the reach lies inside its own scope."""

    id = models.CharField(primary_key=True, max_length=64, default=new_memory_id)
    tenant = models.CharField(max_length=200, blank=True, db_index=True)
    # None: every namespace (an operator key, or AUTH_MODE=disabled); None user_ids: any user.
    namespaces = models.JSONField(null=True, blank=True)
    user_ids = models.JSONField(null=True, blank=True)
    name = models.CharField(max_length=200, null=True, blank=True)
    source = models.CharField(max_length=20, default="long_term")
    group_by = models.JSONField(default=list, blank=True)
    filters = models.JSONField(default=dict, blank=True)
    time_window_days = models.PositiveIntegerField(null=True, blank=True)
    continuous = models.BooleanField(default=False, db_index=True)
    prompt = models.TextField(null=True, blank=True)
    model_name = models.CharField(max_length=200, null=True, blank=True)
    # The summarizing version its runs use; None: the summary policy's published version.
    policy_version = models.ForeignKey(
        "policies.PolicyVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="summary_views"
    )
    created_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return self.name or self.id


class SummaryPartition(models.Model):
    """One partition's latest summary: its group values, the memories it summarised (a
    summary leads back to them) and what it saw, so staleness is a comparison."""

    class Kind(models.TextChoices):
        LLM = "llm", "Written by the model"
        EXTRACTIVE = "extractive", "Extractive (no model configured)"
        EMPTY = "empty", "No matching memories"

    view = models.ForeignKey(SummaryView, on_delete=models.CASCADE, related_name="partitions")
    # The group encoded stably (keys sorted, URL-encoded), as the reference's partition key.
    group_key = models.CharField(max_length=1000)
    group = models.JSONField(default=dict)
    # The group's owner values, for listing filters and erasure.
    namespace = models.CharField(max_length=200, null=True, blank=True)
    user_id = models.CharField(max_length=200, null=True, blank=True)
    summary = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.EMPTY)
    # Memories that matched, and how many of them reached the summarizer (the token budget).
    memory_count = models.PositiveIntegerField(default=0)
    covered_count = models.PositiveIntegerField(default=0)
    memories = models.ManyToManyField(MemoryRecord, blank=True, related_name="summary_partitions")
    # What the partition's memories looked like when summarised: a later change to either is staleness.
    source_count = models.PositiveIntegerField(default=0)
    source_updated_at = models.DateTimeField(null=True, blank=True)
    run = models.ForeignKey("policies.SummaryRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["view", "group_key"], name="summary_partition_group_unique")]
        indexes = [models.Index(fields=["namespace", "user_id"], name="summary_partition_owner_idx")]
        ordering = ["view", "group_key"]

    def __str__(self) -> str:
        return f"{self.view_id} {self.group_key}"


class Task(models.Model):
    """A background task a client can poll (`GET /v1/tasks/{id}`): a summary view's full run."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"

    id = models.CharField(primary_key=True, max_length=128, default=new_memory_id)
    type = models.CharField(max_length=40, default="summary_view_full_run")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    tenant = models.CharField(max_length=200, blank=True, db_index=True)
    # No foreign key: the task outlives a deleted view, as on the reference.
    view_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    created_by = models.CharField(max_length=200, blank=True)
    partitions_done = models.PositiveIntegerField(default=0)
    partitions_total = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        # Beside django_dramatiq's own "Tasks" (the queue's messages) in the admin.
        verbose_name = "summary view task"

    def __str__(self) -> str:
        return f"task {self.id} {self.type} {self.status}"
