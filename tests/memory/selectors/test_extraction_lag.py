"""The extraction lag (GET /metrics and the admin home page): the age of the oldest turn
past its session's watermark, read from the sessions behind it only."""

from datetime import datetime, timedelta

import pytest

from memory.models import SessionPromotion, SourceMessage
from memory.selectors.metrics import extraction_lag_seconds

NOW = datetime.fromisoformat("2026-12-07T12:00:00+00:00")


def _session(session_id: str, *, ages_minutes: list[int], extracted_seq: int, namespace: str = "ns") -> None:
    for seq, minutes in enumerate(ages_minutes, start=1):
        SourceMessage.objects.create(
            namespace=namespace,
            session_id=session_id,
            message_id=f"{session_id}-{seq}",
            seq=seq,
            role="user",
            content=f"turn {seq}",
            created_at=NOW - timedelta(minutes=minutes),
            persisted_at=NOW - timedelta(minutes=minutes),
        )
    SessionPromotion.objects.create(
        namespace=namespace, session_id=session_id, persisted_seq=len(ages_minutes), extracted_seq=extracted_seq
    )


@pytest.mark.django_db
def test_no_turns_no_lag():
    assert extraction_lag_seconds(now=NOW) == 0.0


@pytest.mark.django_db
def test_the_oldest_turn_past_a_watermark_sets_the_lag():
    _session("done", ages_minutes=[90, 80], extracted_seq=2)  # extracted: never counts
    _session("half", ages_minutes=[70, 40, 30], extracted_seq=1)  # turn 2 (40 min) waits
    _session("none", ages_minutes=[20], extracted_seq=0)
    _session("other", ages_minutes=[35], extracted_seq=0, namespace="")  # same id space, other namespace
    assert extraction_lag_seconds(now=NOW) == 40 * 60

    SessionPromotion.objects.filter(session_id="half").update(extracted_seq=3)
    assert extraction_lag_seconds(now=NOW) == 35 * 60
    SessionPromotion.objects.filter(session_id__in=["none", "other"]).update(extracted_seq=1)
    assert extraction_lag_seconds(now=NOW) == 0.0
