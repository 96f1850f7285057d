"""Test data: factory_boy factories for the things tests make (policies and their
versions, memory records, experiments, working-memory sessions), the scripted test
conversation with its scripted extraction reply, and named data sets. tests/README.md
says how to use them."""

from datetime import UTC, datetime

from memory.services.long_term import memories_create


def day(month, d=1):
    """Midnight UTC on `d` `month` 2024: the dates of the search set."""
    return datetime(2024, month, d, tzinfo=UTC)


SEARCH_SET = {
    "r1": dict(
        text="Alice adopted a grey cat called Pixel",
        namespace="acme",
        user_id="u1",
        session_id="s1",
        topics=["pets", "cats"],
        entities=["Alice"],
        memory_type="semantic",
        created_at=day(1),
        last_accessed=day(6),
        event_date=day(1, 10),
    ),
    "r2": dict(
        text="The quarterly report is due on Friday",
        namespace="acme",
        user_id="u1",
        session_id="s2",
        topics=["work"],
        entities=["Bob"],
        memory_type="episodic",
        created_at=day(2),
        last_accessed=day(2),
    ),
    "r3": dict(
        text="Bob walks the neighbour's dog every morning",
        namespace="acme",
        user_id="u2",
        session_id="s1",
        topics=["pets"],
        entities=["Alice", "Bob"],
        memory_type="message",
        created_at=day(3),
        last_accessed=day(3),
        event_date=day(3, 5),
    ),
    "r4": dict(
        text="Carol keeps tropical fish in a large tank",
        namespace="other",
        user_id="u1",
        topics=["pets"],
        memory_type="semantic",
        created_at=day(4),
        last_accessed=day(4),
    ),
}


def search_set_create() -> None:
    """SEARCH_SET (approved) and r5, a pending record of acme/u1 made 1 May 2024: the set the
    filter, listing and recency tests search."""
    memories_create(actor="test", records=[{"id": k, **v} for k, v in SEARCH_SET.items()], deduplicate=False)
    memories_create(
        actor="test",
        records=[
            dict(
                id="r5",
                text="Dan is learning to play the cello",
                namespace="acme",
                user_id="u1",
                topics=["pets"],
                created_at=day(5),
                last_accessed=day(5),
            )
        ],
        status="pending",
    )
