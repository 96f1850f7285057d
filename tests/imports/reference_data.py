"""What the import test loads into the reference, through its own API (agent-memory-client
0.14): long-term records with every field, working-memory sessions and a summary view."""

import asyncio
from datetime import UTC, datetime

from agent_memory_client import MemoryAPIClient, MemoryClientConfig
from agent_memory_client.models import (
    ClientMemoryRecord,
    CreateSummaryViewRequest,
    MemoryMessage,
    MemoryTypeEnum,
    WorkingMemory,
)

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _at(day: int, hour: int = 9) -> datetime:
    return T0.replace(day=day, hour=hour)


RECORDS = [
    ClientMemoryRecord(
        id="ams-rec-1",
        text="Alice prefers window seats on long flights",
        namespace="acme",
        user_id="alice",
        session_id="ams-s-1",
        memory_type=MemoryTypeEnum.SEMANTIC,
        topics=["travel", "preferences"],
        entities=["Alice"],
        pinned=True,
        extracted_from=["ams-m-1", "ams-m-2"],
        created_at=_at(2),
        last_accessed=_at(3),
        updated_at=_at(2, 10),
    ),
    ClientMemoryRecord(
        id="ams-rec-2",
        text="Bob flew to Lisbon for the product launch",
        namespace="acme",
        user_id="bob",
        memory_type=MemoryTypeEnum.EPISODIC,
        topics=["travel"],
        entities=["Bob", "Lisbon"],
        event_date=_at(5, 14),
        created_at=_at(6),
        last_accessed=_at(6),
    ),
    ClientMemoryRecord(
        id="ams-rec-3",
        text="Alice is allergic to peanuts",
        namespace="acme",
        user_id="alice",
        memory_type=MemoryTypeEnum.SEMANTIC,
        topics=["health"],
        entities=["Alice"],
        created_at=_at(7),
        last_accessed=_at(8),
    ),
    ClientMemoryRecord(
        id="ams-rec-4",
        text="The Kyoto trip is planned for April",
        namespace="travel",
        user_id="carol",
        session_id="ams-s-2",
        memory_type=MemoryTypeEnum.EPISODIC,
        topics=["trips"],
        entities=["Kyoto"],
        event_date=_at(20),
        created_at=_at(9),
        last_accessed=_at(9),
    ),
    ClientMemoryRecord(
        id="ams-rec-5",
        text="user: can you book the train to Nara?",
        namespace="travel",
        user_id="carol",
        session_id="ams-s-2",
        memory_type=MemoryTypeEnum.MESSAGE,
        created_at=_at(10),
        last_accessed=_at(10),
    ),
]

PINNED = "ams-rec-3"

# The session memory the reference promotes to long-term memory in the background.
SESSION_MEMORY = ClientMemoryRecord(
    id="ams-wm-mem-1",
    text="Alice's sister Anna lives in Porto",
    memory_type=MemoryTypeEnum.SEMANTIC,
    topics=["family"],
    entities=["Alice", "Anna", "Porto"],
    created_at=_at(11),
    last_accessed=_at(11),
)

SESSIONS = [
    WorkingMemory(
        session_id="ams-s-1",
        namespace="acme",
        user_id="alice",
        messages=[
            MemoryMessage(id="ams-m-1", role="user", content="I always take a window seat", created_at=_at(2, 8)),
            MemoryMessage(id="ams-m-2", role="assistant", content="Noted: window seats.", created_at=_at(2, 9)),
        ],
        data={"seat": "window", "trips": 3, "loyalty": {"tier": "gold"}},
        context="Earlier: Alice booked two flights to Porto.",
        memories=[SESSION_MEMORY],
    ),
    WorkingMemory(
        session_id="ams-s-2",
        namespace="travel",
        user_id="carol",
        messages=[
            MemoryMessage(id="ams-m-3", role="user", content="Plan Kyoto in April", created_at=_at(9, 8)),
        ],
        ttl_seconds=86_400,
    ),
]

VIEW = CreateSummaryViewRequest(
    name="acme users",
    source="long_term",
    group_by=["user_id"],
    filters={"namespace": "acme"},
    time_window_days=3650,
    continuous=False,
    prompt="Summarize what matters about this user for travel bookings.",
)
# A model this server's operator has not allowed (LLM_ALLOWED_MODELS): the import lists it.
VIEW_OF_ANOTHER_MODEL = CreateSummaryViewRequest(
    name="by type", source="long_term", group_by=["memory_type"], model_name="gpt-4o"
)

# Partitions the reference computes (its model is unreachable here, so it stores its own
# fallback text, "No summary could be generated for this partition.", with the memory count).
PARTITIONS = [{"user_id": "alice"}, {"user_id": "bob"}]


async def _load(client: MemoryAPIClient) -> str:
    await client.create_long_term_memory(RECORDS)
    for session in SESSIONS:
        await client.put_working_memory(session.session_id, session, user_id=session.user_id)
    view = await client.create_summary_view(VIEW)
    await client.create_summary_view(VIEW_OF_ANOTHER_MODEL)
    expected = [r.id for r in RECORDS] + [SESSION_MEMORY.id]
    for _ in range(240):  # the reference indexes in its task worker
        found = 0
        for memory_id in expected:
            try:
                await client.get_long_term_memory(memory_id)
                found += 1
            except Exception:  # noqa: BLE001 - a 404 until the worker has indexed it
                break
        if found == len(expected):
            await client.edit_long_term_memory(PINNED, {"pinned": True})  # a create leaves pinned false
            for group in PARTITIONS:
                await client.run_summary_view_partition(view.id, group)
            return view.id
        await asyncio.sleep(0.25)
    raise RuntimeError("the reference did not index every record within 60 s")


def load(url: str) -> str:
    """Load the data set into the reference at `url`; the summary view's id."""

    async def main() -> str:
        async with MemoryAPIClient(MemoryClientConfig(base_url=url)) as client:
            return await _load(client)

    return asyncio.run(main())


if __name__ == "__main__":
    import sys

    print(load(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8150"))
