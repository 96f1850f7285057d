"""The online figures of a set of runs (memory.selectors.policy_figures) on a hand-built
fixture: every figure written as a literal worked out by hand."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from memory.models import MemoryHistory
from memory.selectors.policy_figures import approval_by_day, run_figures
from memory.services import review
from memory.services.long_term import memories_create
from policies.models import ExtractionRun
from policies.services import policy_version_create
from tests.factories import PolicyVersionFactory

pytestmark = pytest.mark.django_db(transaction=True)

NS, USER, REVIEWER = "figures", "alice", "admin:rita"


def run_of(version, session_id, status="succeeded", **counts):
    return ExtractionRun.objects.create(
        namespace=NS, user_id=USER, session_id=session_id, policy_version=version, strategy=version.strategy,
        status=status, **counts,
    )  # fmt: skip


def memories_of(run, *texts):
    records = [{"text": t, "namespace": NS, "user_id": USER, "session_id": run.session_id} for t in texts]
    result = memories_create(records=records, deduplicate=False, status="pending", actor="test", extraction_run=run)
    return [outcome.id for outcome in result.outcomes]


@pytest.fixture
def version():
    return PolicyVersionFactory()


@pytest.fixture
def reviewed_runs(version):
    """Run a (10 messages, 4 memories, 1 merge): 3 approved, 1 rejected; run b (6 messages,
    1 memory) untouched; run c failed. Another version's rejected memory must not count."""
    a = run_of(version, "s1", message_count=10, memories_created=4, memories_deduplicated=1, tokens_in=100,
               tokens_out=20, cost_usd=Decimal("0.002"), latency_ms=100)  # fmt: skip
    b = run_of(version, "s1", message_count=6, memories_created=1, tokens_in=50, tokens_out=10,
               cost_usd=Decimal("0.001"), latency_ms=300)  # fmt: skip
    run_of(version, "s2", status="failed", message_count=5, tokens_in=30, cost_usd=Decimal("0.0005"), latency_ms=50)
    ids = memories_of(a, "Alice drinks green tea", "Alice plays the cello", "Alice lives in Porto", "Alice said hi")
    memories_of(b, "Alice owns a red bicycle")
    review.memories_approve(memory_ids=ids[:3], actor=REVIEWER)
    review.memory_reject(memory_id=ids[3], reason="Not a durable fact", actor=REVIEWER)
    other = policy_version_create(policy=version.policy, strategy="summary", actor="test")
    [stray] = memories_of(run_of(other, "s3", message_count=2, memories_created=1), "Alice met Bob today")
    review.memory_reject(memory_id=stray, reason="Too vague to be useful", actor=REVIEWER)
    return ids


def test_run_figures_of_a_version(version, reviewed_runs):
    figures = run_figures(runs=ExtractionRun.objects.filter(policy_version=version))

    assert (figures.runs, figures.failed_runs, figures.sessions) == (3, 1, 2)
    assert (figures.messages, figures.memories_created, figures.memories_deduplicated) == (16, 5, 1)
    assert figures.memories_per_100_messages == 31.25  # 5 / 16 * 100
    assert (figures.approved, figures.rejected, figures.reviewed, figures.approval_rate) == (3, 1, 4, 0.75)
    # Wilson 95% for 3/4 by hand: (0.75 + z²/8 ± z·sqrt(0.75·0.25/4 + z²/64)) / (1 + z²/4), z = 1.959964.
    interval = figures.approval_interval
    assert (round(interval.low, 4), round(interval.high, 4)) == (0.3006, 0.9544)
    assert figures.rejection_reasons == [("Not a durable fact", 1)]
    assert figures.duplicate_rate == pytest.approx(1 / 6)
    assert (figures.tokens_in, figures.tokens_out, figures.tokens_per_run) == (180, 30, 70)
    assert (figures.cost_usd, figures.cost_per_run) == (Decimal("0.0035"), Decimal("0.0035") / 3)
    assert figures.cost_per_100_messages == Decimal("0.021875")
    # Succeeded runs' latencies [100, 300]: p50 halfway, p95 at 100 + 0.95 * 200.
    assert (figures.latency_p50_ms, figures.latency_p95_ms) == (200, 290)


def test_a_decision_undone_or_never_made_is_not_a_review(version, reviewed_runs):
    MemoryHistory.objects.filter(memory_id=reviewed_runs[3], action="rejected").update(undone_at=timezone.now())
    figures = run_figures(runs=ExtractionRun.objects.filter(policy_version=version))
    assert (figures.approved, figures.rejected, figures.rejection_reasons) == (3, 0, [])


def test_no_runs_have_empty_figures(version):
    figures = run_figures(runs=ExtractionRun.objects.filter(policy_version=version))
    assert (figures.runs, figures.reviewed, figures.approval_rate, figures.approval_interval) == (0, 0, None, None)
    assert (figures.memories_per_100_messages, figures.duplicate_rate, figures.latency_p95_ms) == (None, None, None)


def test_approval_by_day_is_cumulative_on_the_day_of_the_last_decision(version, reviewed_runs):
    yesterday = timezone.now() - timedelta(days=1)
    MemoryHistory.objects.filter(memory_id=reviewed_runs[0], action="approved").update(created_at=yesterday)

    days = approval_by_day(runs=ExtractionRun.objects.filter(policy_version=version))

    assert [(d.day, d.approved, d.reviewed) for d in days] == [
        (yesterday.date(), 1, 1),
        (timezone.now().date(), 3, 4),
    ]
    assert (round(days[1].interval.low, 4), round(days[1].interval.high, 4)) == (0.3006, 0.9544)
