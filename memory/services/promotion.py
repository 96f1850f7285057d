"""Promotion: a session's turns become long-term memories, off the request path.

One run, in three steps, each idempotent:
1. Persist. The session's messages not yet in the DB become SourceMessages (numbered
   by arrival), and its `memories[]` not yet promoted go through the long-term create
   service (with dedup). From here on nothing depends on the working memory, which may
   expire or be trimmed by the running summary.
2. Extract. The turns after the session's watermark (`SessionPromotion.extracted_seq`)
   go to the policy version's strategy, with earlier turns as context only.
3. Write. The records (with provenance: source message ids and the run, which names
   the policy version and model) and the new watermark commit in one transaction,
   after checking that the watermark has not moved meanwhile. A redelivered job
   therefore finds nothing new and writes nothing.

An ExtractionRun records every run. Its `attempt` counts attempts across deliveries
and retries, so a job that keeps failing, or keeps dying with its worker, ends as a
`failed` run with the reason. The retry policy lives here: a run gets at most
PROMOTION_MAX_ATTEMPTS attempts (provider outages: 429, 5xx, timeouts; DB or Redis
errors), of which at most PROMOTION_MAX_OUTPUT_ATTEMPTS may end in a malformed reply;
other LLM errors (bad request, auth, no model) end it at once. The wait between
attempts doubles from PROMOTION_RETRY_BACKOFF_SECONDS.

A failed run is not the end of its turns. The run records why it failed (`failure`),
and the periodic sweep re-arms failed runs once the provider answers again
(`promotion_retry.promotion_failed_rearm`, which probes it), so an outage longer than the whole retry
budget ends with every turn extracted, with no operator action, even for a session
never written again. An outage failure is re-armed whenever the probe passes; any other
failure (malformed replies, a refused request, a crash, an error of ours) at most
PROMOTION_MAX_REARMS times. An admin can retry failed runs at any time
(`promotion_retry.promotion_runs_retry`). Either way the failed run itself goes back to running, so
its turns are extracted once: the watermark check of step 3 holds as for any run.
"""

import logging
import random
import time
from dataclasses import asdict
from decimal import Decimal
from typing import Any

import redis
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from memory import extraction, llm
from memory.actor_names import SYSTEM_PROMOTION
from memory.datetimes import datetime_decode
from memory.models import DATETIME_FIELDS, RECORD_FIELDS, MemoryRecord, MemoryStatus, SessionPromotion, SourceMessage
from memory.selectors.long_term import similar_current_memories
from memory.selectors.working_memory import working_memory_get
from memory.services.long_term import (
    MemoriesCreateResult,
    MemoryIdConflictError,
    memories_create,
    memories_supersede,
    memory_hash,
    supersede_when_approved,
)
from policies.models import ExtractionRun, PolicyVersion, Strategy
from policies.selectors import NoPublishedPolicyError, policy_version_for_session
from policies.selectors.versions import SessionPolicy
from policies.services.experiments import experiment_assign
from policies.strategies import context_size
from workers.queue import enqueue_promotion

logger = logging.getLogger(__name__)

Failure = ExtractionRun.Failure
MAX_BACKOFF_SECONDS = 3600
# How many of the user's stored memories nearest to the new turns an LLM extraction is
# shown, so that it can label each new memory add, update (of one of them) or noop.
KNOWN_MEMORIES = 10
# Failures of the services a run depends on, not of the run itself: they end when the service is back.
SERVICE_OUTAGES = (llm.LLMUnavailableError, OperationalError, InterfaceError, redis.ConnectionError, redis.TimeoutError)


class PromotionRetry(Exception):
    """This attempt failed and another is allowed: try again after `delay_seconds`."""

    def __init__(self, message: str, *, delay_seconds: float, run: ExtractionRun):
        super().__init__(message)
        self.delay_seconds = delay_seconds
        self.run = run


def promotion_run_now(*, namespace: str | None, user_id: str | None, session_id: str) -> ExtractionRun | None:
    """Promote the session's not-yet-promoted turns now, synchronously.

    The running summary calls this before trimming turns: when it returns, every turn
    of the session is in the DB, whatever the extraction did. A retryable extraction
    failure is recorded on the run, and the retry goes to the worker with its backoff
    (in inline mode, the session's next write tries again). Returns the run, or None
    when there was nothing new to extract.
    """
    try:
        return promotion_run(namespace=namespace, user_id=user_id, session_id=session_id)
    except PromotionRetry as retry:
        if not settings.WORKERS_INLINE:
            # No debounce token: it runs unless a newer debounce window is pending (which covers it).
            enqueue_promotion(
                namespace=namespace,
                user_id=user_id,
                session_id=session_id,
                token="",
                delay_seconds=retry.delay_seconds,
            )
        return retry.run


def promotion_run(*, namespace: str | None, user_id: str | None, session_id: str) -> ExtractionRun | None:
    """One attempt at promoting the session (the worker's entry point; idempotent).

    Returns the run (succeeded, failed for good, or skipped because another run
    promoted the same turns first), or None when there was nothing new. Raises
    PromotionRetry when the attempt failed and another is allowed.
    """
    ns = namespace or ""
    # The session is found by namespace and id whoever owns it; records take its owner.
    session = working_memory_get(session_id=session_id, namespace=namespace, user_id=None)
    state: SessionPromotion | None
    if session is not None:
        state = _persist(ns, session_id, session)
    else:  # expired or deleted: turns already persisted may still await extraction
        state = SessionPromotion.objects.filter(namespace=ns, session_id=session_id).first()
    if state is None:
        return None
    watermark = state.extracted_seq
    new_messages = list(
        SourceMessage.objects.filter(namespace=ns, session_id=session_id, seq__gt=watermark).order_by("seq")
    )
    if not new_messages:
        return None
    owner = state.user_id or (user_id or "")
    try:
        chosen = _session_policy(namespace, owner, session_id)
    except NoPublishedPolicyError as exc:
        return _run_without_policy(ns, owner, session_id, new_messages, exc)

    run = _run_begin(ns, owner, session_id, chosen, new_messages)
    if run.status != ExtractionRun.Status.RUNNING:
        return run
    # A running run always names its version (runs protect it); the fallback only narrows the type.
    version = run.policy_version or chosen.version
    started = time.monotonic()
    try:
        context_messages = _context(
            ns, session_id, watermark, context_size(strategy=version.strategy, params=version.params)
        )
        known = _known_memories(ns, owner, version, new_messages)
        result = extraction.extract(
            strategy=version.strategy,
            new_turns=[_turn(m) for m in new_messages],
            context_turns=[_turn(m) for m in context_messages],
            prompt_template=version.prompt_template,
            model=version.model,
            params=version.params,
            known_memories=known,
        )
        return _write(run, version, state, watermark, new_messages, result, started)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the run, then retried or final
        return _attempt_failed(run, exc)


# --- Step 1: persist -----------------------------------------------------------------------


def _persist(ns: str, session_id: str, session: dict[str, Any]) -> SessionPromotion:
    """Write the session's new messages and unpromoted memories; returns the locked-then-saved state."""
    owner = session.get("user_id") or ""
    messages = session.get("messages") or []
    memories = session.get("memories") or []
    with transaction.atomic():
        SessionPromotion.objects.get_or_create(namespace=ns, session_id=session_id, defaults={"user_id": owner})
        state = SessionPromotion.objects.select_for_update().get(namespace=ns, session_id=session_id)
        known = set(
            SourceMessage.objects.filter(
                namespace=ns, session_id=session_id, message_id__in=[m["id"] for m in messages]
            ).values_list("message_id", flat=True)
        )
        fresh = [m for m in messages if m["id"] not in known]
        SourceMessage.objects.bulk_create(
            [
                SourceMessage(
                    namespace=ns,
                    session_id=session_id,
                    message_id=m["id"],
                    user_id=owner,
                    seq=state.persisted_seq + position,
                    role=m["role"],
                    content=m["content"],
                    created_at=datetime_decode(m.get("created_at")) or timezone.now(),
                )
                for position, m in enumerate(fresh, start=1)
            ]
        )
        unpromoted = [m for m in memories if state.promoted_memories.get(m["id"]) != memory_hash(m["text"])]
        _promote_session_memories(ns, owner, session_id, unpromoted)
        if not fresh and not unpromoted and state.user_id == owner:
            return state
        state.persisted_seq += len(fresh)
        state.promoted_memories.update({m["id"]: memory_hash(m["text"]) for m in unpromoted})
        state.user_id = owner
        state.updated_at = timezone.now()
        state.save()
    return state


def _promote_session_memories(ns: str, owner: str, session_id: str, memories: list[dict[str, Any]]) -> None:
    """The agent's own session memories, approved as API creates are, the session's owner's."""
    records = [
        _session_record(m, namespace=ns, user_id=owner, session_id=session_id) for m in memories if m["text"].strip()
    ]
    while records:
        try:
            # The agent's words, not a reviewer's: a pending record they repeat stays pending.
            memories_create(
                records=records,
                deduplicate=True,
                status=MemoryStatus.APPROVED,
                actor=SYSTEM_PROMOTION,
                may_review=False,
            )
            return
        except MemoryIdConflictError as conflict:
            # Another owner's record has this id: the session cannot overwrite it. Skip it.
            logger.warning("session %s/%s: memory %s not promoted: %s", ns, session_id, conflict.memory_id, conflict)
            records = [r for r in records if r["id"] != conflict.memory_id]


# --- Step 2: the run and its attempts ----------------------------------------------------------


def _session_policy(namespace: str | None, owner: str, session_id: str) -> SessionPolicy:
    """The version that extracts the session; an experiment's pick is stored first (the
    session's Assignment), so its next runs get the same variant whatever the weights."""
    chosen = policy_version_for_session(namespace=namespace, user_id=owner or None, session_id=session_id)
    if chosen.experiment is None or chosen.assigned:
        return chosen
    variant = experiment_assign(experiment=chosen.experiment, namespace=namespace, session_id=session_id)
    if variant is None:  # stopped meanwhile: the published version takes the session
        return policy_version_for_session(namespace=namespace, user_id=owner or None, session_id=session_id)
    return SessionPolicy(version=variant.version, experiment=chosen.experiment, variant=variant, assigned=True)


def _run_begin(
    ns: str, owner: str, session_id: str, chosen: SessionPolicy, new_messages: list[SourceMessage]
) -> ExtractionRun:
    """Continue the session's unfinished run (a retry or a redelivery) or start one."""
    with transaction.atomic():
        # Serialise run starts per session on its state row: FOR UPDATE on a RUNNING run
        # locks nothing while there is none, so two deliveries on PostgreSQL would each start one.
        SessionPromotion.objects.select_for_update().filter(namespace=ns, session_id=session_id).first()
        run = (
            ExtractionRun.objects.select_for_update()
            .filter(namespace=ns, session_id=session_id, status=ExtractionRun.Status.RUNNING)
            .order_by("-started_at", "-id")
            .first()
        )
        if run is None:
            version = chosen.version
            model = "" if version.strategy == Strategy.MESSAGES else version.model or settings.LLM_MODEL
            run = ExtractionRun(
                namespace=ns,
                user_id=owner,
                session_id=session_id,
                policy_version=version,
                experiment=chosen.experiment,
                variant=chosen.variant,
                strategy=version.strategy,
                model=model,
                attempt=0,
            )
        run.attempt += 1
        run.first_message_id, run.last_message_id = new_messages[0].message_id, new_messages[-1].message_id
        run.message_count = len(new_messages)
        if run.attempt > settings.PROMOTION_MAX_ATTEMPTS:
            # Earlier attempts never reported back: the worker died or hit its time limit.
            run.status, run.finished_at, run.failure = ExtractionRun.Status.FAILED, timezone.now(), Failure.UNFINISHED
            run.error = (
                f"gave up after {run.attempt - 1} attempts (PROMOTION_MAX_ATTEMPTS); the last ones "
                "did not finish (worker crash or time limit)" + (f"; earlier error: {run.error}" if run.error else "")
            )
            logger.error("promotion run %s for session %s/%s failed: %s", run.pk, ns, session_id, run.error)
        run.save()
    return run


def _run_without_policy(
    ns: str, owner: str, session_id: str, new_messages: list[SourceMessage], exc: NoPublishedPolicyError
) -> ExtractionRun:
    run = ExtractionRun.objects.create(
        namespace=ns,
        user_id=owner,
        session_id=session_id,
        strategy="",
        status=ExtractionRun.Status.FAILED,
        first_message_id=new_messages[0].message_id,
        last_message_id=new_messages[-1].message_id,
        message_count=len(new_messages),
        error=str(exc),
        failure=Failure.NO_POLICY,
        finished_at=timezone.now(),
    )
    logger.error("promotion of session %s/%s failed: %s", ns, session_id, exc)
    return run


def _attempt_failed(run: ExtractionRun, exc: Exception) -> ExtractionRun:
    """Record the failure; raise PromotionRetry if another attempt is allowed."""
    current = ExtractionRun.objects.filter(pk=run.pk).values_list("status", flat=True).first()
    if current != ExtractionRun.Status.RUNNING:
        return ExtractionRun.objects.get(pk=run.pk)  # a concurrent attempt of this run has finished it
    reason = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, llm.LLMOutputError):
        run.malformed_replies += 1
        run.raw_output = exc.raw[: settings.EXTRACTION_RAW_OUTPUT_MAX_CHARS]
        limit = settings.PROMOTION_MAX_OUTPUT_ATTEMPTS
        run.error = f"malformed reply {run.malformed_replies} of at most {limit} (attempt {run.attempt}): {reason}"
        final = run.malformed_replies >= limit or run.attempt >= settings.PROMOTION_MAX_ATTEMPTS
    elif isinstance(exc, llm.LLMError) and not exc.retryable:
        run.error, final = f"attempt {run.attempt}, not retryable: {reason}", True
    else:  # provider outages, and DB or Redis errors
        run.error = f"attempt {run.attempt} of at most {settings.PROMOTION_MAX_ATTEMPTS}: {reason}"
        final = run.attempt >= settings.PROMOTION_MAX_ATTEMPTS
    if not final:
        delay = min(settings.PROMOTION_RETRY_BACKOFF_SECONDS * 2 ** (run.attempt - 1), MAX_BACKOFF_SECONDS)
        delay *= random.uniform(1.0, 1.25)  # spread the retries of many sessions after an outage
        run.save(update_fields=["error", "malformed_replies", "raw_output"])
        logger.warning(
            "promotion run %s for session %s/%s: %s; retrying in %.1f s",
            run.pk,
            run.namespace,
            run.session_id,
            run.error,
            delay,
        )
        raise PromotionRetry(run.error, delay_seconds=delay, run=run) from exc
    run.status, run.finished_at, run.failure = ExtractionRun.Status.FAILED, timezone.now(), _failure_of(exc)
    run.save(update_fields=["error", "malformed_replies", "raw_output", "status", "finished_at", "failure"])
    logger.error("promotion run %s for session %s/%s failed: %s", run.pk, run.namespace, run.session_id, run.error)
    return run


def _failure_of(exc: Exception) -> str:
    """What a final failure was, for the re-arm: an outage ends when the service is back."""
    if isinstance(exc, llm.LLMOutputError):
        return Failure.OUTPUT
    if isinstance(exc, SERVICE_OUTAGES):
        return Failure.OUTAGE
    return Failure.REFUSED if isinstance(exc, llm.LLMError) else Failure.ERROR


# --- Step 3: write -------------------------------------------------------------------------


def _known_memories(
    ns: str, owner: str, version: PolicyVersion, new_messages: list[SourceMessage]
) -> list[extraction.KnownMemory]:
    """The user's current memories nearest to the new turns (LLM strategies only)."""
    if version.strategy == Strategy.MESSAGES:
        return []
    rows = similar_current_memories(
        namespace=ns or None,
        user_id=owner or None,
        texts=[m.content for m in new_messages if m.role != "system"],
        k=KNOWN_MEMORIES,
    )
    return [extraction.KnownMemory(id=r.id, text=r.text) for r in rows]


def _updates_checked(memories: list[extraction.ExtractedMemory]) -> tuple[list[extraction.ExtractedMemory], int]:
    """Drop each update whose text is the replaced record's own (same content hash):
    nothing new, so it counts as deduplicated, like a `noop`. Returns the rest and how many."""
    replaced = [m.replaces for m in memories if m.replaces]
    hashes = dict(MemoryRecord.objects.filter(id__in=replaced).values_list("id", "memory_hash")) if replaced else {}
    kept = [m for m in memories if not (m.replaces and hashes.get(m.replaces) == memory_hash(m.text))]
    return kept, len(memories) - len(kept)


def _supersede(
    run: ExtractionRun,
    version: PolicyVersion,
    memories: list[extraction.ExtractedMemory],
    created: MemoriesCreateResult,
) -> int:
    """Each update created just now supersedes the record it replaces; returns how many did.
    An update that waits for review (`pending`) only notes what it will supersede: the
    approval applies it, so an unreviewed correction never takes the old fact out of search."""
    pairs = [
        (m.replaces, o.id)
        for m, o in zip(memories, created.outcomes, strict=True)
        if m.replaces and o.outcome == "created"
    ]
    if not pairs:
        return 0
    if version.review_mode != MemoryStatus.APPROVED:
        supersede_when_approved(pairs=pairs, actor=SYSTEM_PROMOTION)
        return 0
    return len(memories_supersede(pairs=pairs, actor=SYSTEM_PROMOTION, reason=f"updated by run {run.pk}").superseded)


def _write(
    run: ExtractionRun,
    version: PolicyVersion,
    state: SessionPromotion,
    watermark: int,
    new_messages: list[SourceMessage],
    result: extraction.Extraction,
    started: float,
) -> ExtractionRun:
    """Records, watermark and run in one transaction, unless another run got there first.

    Updates (items with `replaces`) go first: each is created without dedup, so its new
    text can never be folded into the record it replaces, and supersedes that record at
    once. Only then are the other items created with dedup, so none of them can merge
    into a record this run has just superseded (and vanish with it from search).
    """
    memories, repeated = _updates_checked(result.memories)
    with transaction.atomic():
        state = SessionPromotion.objects.select_for_update().get(pk=state.pk)
        run = ExtractionRun.objects.select_for_update().get(pk=run.pk)
        if state.extracted_seq != watermark:
            return _skipped(run, new_messages)
        updates = [m for m in memories if m.replaces]
        created_updates = _create(run, version, state, updates, deduplicate=False)
        superseded = _supersede(run, version, updates, created_updates)
        # Raw turns are distinct events: the watermark keeps them from repeating, and
        # merging two sessions' identical "yes" would lose where each was said.
        created = _create(
            run,
            version,
            state,
            [m for m in memories if not m.replaces],
            deduplicate=version.strategy != Strategy.MESSAGES,
        )
        state.extracted_seq = new_messages[-1].seq
        state.updated_at = timezone.now()
        state.save(update_fields=["extracted_seq", "updated_at"])
        outcomes = created_updates.outcomes + created.outcomes
        _succeeded(run, result, MemoriesCreateResult(outcomes=outcomes), repeated, started)
    logger.info(
        "promotion run %s for session %s/%s: %d turns, %d created, %d deduplicated, %d superseded, %d dropped %s %s",
        run.pk,
        run.namespace,
        run.session_id,
        len(new_messages),
        run.memories_created,
        run.memories_deduplicated,
        superseded,
        run.memories_dropped,
        result.dropped or "",
        result.labels or "",
    )
    return run


def _create(
    run: ExtractionRun,
    version: PolicyVersion,
    state: SessionPromotion,
    memories: list[extraction.ExtractedMemory],
    *,
    deduplicate: bool,
) -> MemoriesCreateResult:
    # How they were extracted, as the reference records it: the strategy and its settings
    # (the policy version's), so a search can filter on it ("messages" for raw turns).
    how = {"extraction_strategy": version.strategy, "extraction_strategy_config": dict(version.params or {})}
    records = [
        {
            **_session_record(asdict(m), namespace=state.namespace, user_id=state.user_id, session_id=state.session_id),
            **how,
        }
        for m in memories
    ]
    return memories_create(
        records=records,
        deduplicate=deduplicate,
        status=version.review_mode,
        extraction_run=run,
        actor=SYSTEM_PROMOTION,
    )


def _skipped(run: ExtractionRun, new_messages: list[SourceMessage]) -> ExtractionRun:
    if run.status != ExtractionRun.Status.RUNNING:
        return run  # a concurrent attempt of this same run wrote the turns
    run.status, run.finished_at = ExtractionRun.Status.SKIPPED, timezone.now()
    run.error = (
        f"turns {new_messages[0].message_id}..{new_messages[-1].message_id} were promoted by "
        "another run meanwhile; nothing written"
    )
    run.save()
    return run


def _succeeded(
    run: ExtractionRun, result: extraction.Extraction, created: MemoriesCreateResult, repeated: int, started: float
) -> None:
    run.status, run.finished_at, run.error = ExtractionRun.Status.SUCCEEDED, timezone.now(), ""
    run.model = result.model or run.model
    run.tokens_in, run.tokens_out = result.tokens_in, result.tokens_out
    run.raw_output = result.raw_output[: settings.EXTRACTION_RAW_OUTPUT_MAX_CHARS]
    run.cost_usd = Decimal(str(round(result.cost_usd, 6)))
    run.latency_ms = int((time.monotonic() - started) * 1000)
    run.memories_created = len(created.created_ids)
    # A `noop` item (the model found it already known) is a duplicate caught in the same call.
    run.memories_deduplicated = created.deduplicated_count + result.known_count + repeated
    run.memories_dropped = sum(result.dropped.values())
    run.save()


# --- Helpers ----------------------------------------------------------------------------------


def _context(ns: str, session_id: str, watermark: int, size: int) -> list[SourceMessage]:
    if not size:
        return []
    earlier = SourceMessage.objects.filter(namespace=ns, session_id=session_id, seq__lte=watermark)
    return list(earlier.order_by("-seq")[:size])[::-1]


def _turn(message: SourceMessage) -> extraction.Turn:
    return extraction.Turn(
        id=message.message_id, role=message.role, content=message.content, created_at=message.created_at
    )


def _session_record(values: dict[str, Any], *, namespace: str, user_id: str, session_id: str) -> dict[str, Any]:
    """A `memories_create` input from a session memory or an extracted one: the record
    fields it has, for the session's owner (working memory keeps datetimes as ISO strings)."""
    record = {name: values[name] for name in RECORD_FIELDS if values.get(name) is not None}
    for name in DATETIME_FIELDS:
        if name in record:
            record[name] = datetime_decode(record[name])
    record.update(namespace=namespace or None, user_id=user_id or None, session_id=session_id)
    return record
