"""Test data for every test module: factory_boy factories for what tests make (extraction
policies and their versions, experiments, memory records, working-memory sessions), THE
scripted conversation with the reply the scripted LLM gives for it, and the search set.
tests/README.md shows how to use them.

Records, versions, experiments and sessions are made by the services the doors call,
never by saving a model: a service is where the history row, the hash, the index
document, the version number and the experiment's events are made, so a test's data
is the data the server would hold.
"""

import copy
from datetime import UTC, datetime

import factory

from memory.models import MemoryRecord
from memory.services.long_term import memories_create
from memory.services.working_memory import working_memory_put
from policies.models import Experiment, Policy, PolicyVersion
from policies.services import policy_version_create, policy_version_publish
from policies.services.experiments import experiment_create, experiment_start

# --- Extraction policies and versions -----------------------------------------------------


class PolicyFactory(factory.django.DjangoModelFactory):
    """An extraction policy (get or create by name). No service makes a bare policy (the
    admin form and policy_defaults_ensure save the model), so the ORM does here too.
    "default" is the policy promotion uses."""

    class Meta:
        model = Policy
        django_get_or_create = ("name",)

    name = "default"


class PolicyVersionFactory(factory.Factory):
    """A version made by policy_version_create (next number, validated, created_by);
    `publish=True` publishes it with policy_version_publish (a publish event)."""

    class Meta:
        model = PolicyVersion

    policy = factory.SubFactory(PolicyFactory)
    strategy = "discrete"

    @classmethod
    def _create(cls, model_class, *, publish: bool = False, actor: str = "test", **fields) -> PolicyVersion:
        version = policy_version_create(**fields, actor=actor)
        if publish:
            policy_version_publish(version=version, actor=actor)
        return version


class ExperimentFactory(factory.Factory):
    """An experiment made by experiment_create and, unless `start=False`, started by
    experiment_start (each with its event). `variants`: (name, version, weight); by
    default A publishes a discrete version of the default policy and B tries
    max_memories 3 against it, weight 1 each."""

    class Meta:
        model = Experiment

    key = factory.Sequence(lambda n: f"experiment-{n}")
    namespaces = ()
    variants = factory.LazyFunction(
        lambda: [
            ("A", PolicyVersionFactory(publish=True), 1),
            ("B", PolicyVersionFactory(params={"max_memories": 3}), 1),
        ]
    )

    @classmethod
    def _create(cls, model_class, *, start: bool = True, actor: str = "admin:erin", **fields) -> Experiment:
        experiment = experiment_create(**fields, actor=actor)
        return experiment_start(experiment=experiment, actor=actor) if start else experiment


# --- Memory records ------------------------------------------------------------------------


class MemoryRecordFactory(factory.Factory):
    """A long-term record made by memories_create, as every door makes one: its history
    row, hash and index document (on commit) come with it, which saving the model would
    leave out. `status`, `deduplicate` (off unless asked) and `actor` go to the service,
    every other keyword is a record field (`id`, `text`, `namespace`, `created_at`, ...).
    Returns the stored row (the merge target's, where deduplicate merged it)."""

    class Meta:
        model = MemoryRecord

    text = factory.Sequence(lambda n: f"Alice noted fact number {n}")
    namespace = "ns"

    @classmethod
    def _create(
        cls, model_class, *, status: str = "approved", deduplicate: bool = False, actor: str = "test", **fields
    ) -> MemoryRecord:
        (outcome,) = memories_create(records=[fields], status=status, deduplicate=deduplicate, actor=actor).outcomes
        return model_class.objects.get(pk=outcome.id)


def memory_records_create(
    *records: dict, status: str = "approved", deduplicate: bool = False, actor: str = "test", **common
) -> list[MemoryRecord]:
    """Several records in ONE memories_create call (one embedding batch; dedup, when on,
    also within the call): each dict over MemoryRecordFactory's defaults and `common`.
    Returns the stored rows in order."""
    fields = [vars(MemoryRecordFactory.stub(**common, **record)) for record in records]
    result = memories_create(records=fields, status=status, deduplicate=deduplicate, actor=actor)
    rows = MemoryRecord.objects.in_bulk([outcome.id for outcome in result.outcomes])
    return [rows[outcome.id] for outcome in result.outcomes]


# --- THE conversation and its scripted reply -------------------------------------------------

# Alice tells the assistant about her sister: m0 states a fact, m2 a plan with a date to
# resolve, m3 restates m0 in other words (a near duplicate for the review desk).
CONVERSATION = [
    {"id": "m0", "role": "user", "content": "My sister Anna lives in Porto.", "created_at": "2024-05-04T09:30:00Z"},
    {"id": "m1", "role": "assistant", "content": "Porto is lovely.", "created_at": "2024-05-04T09:30:05Z"},
    {
        "id": "m2",
        "role": "user",
        "content": "She is moving to Lisbon next week; book me a window seat.",
        "created_at": "2024-05-04T09:31:00Z",
    },
    {"id": "m3", "role": "user", "content": "Anna is in Porto until then.", "created_at": "2024-05-04T09:31:30Z"},
]


def conversation(count: int = len(CONVERSATION), **contents: str) -> list[dict]:
    """A fresh copy of the first `count` turns of CONVERSATION; `m2="..."` changes a turn's content."""
    turns = copy.deepcopy(CONVERSATION[:count])
    for turn in turns:
        turn["content"] = contents.pop(turn["id"], turn["content"])
    if contents:
        raise ValueError(f"no turns {sorted(contents)} in the first {count}")
    return turns


class ExtractedMemoryFactory(factory.DictFactory):
    """One memory as the extraction prompt asks the model to return it; by default the
    fact of CONVERSATION's m0."""

    text = "User's sister Anna lives in Porto."
    memory_type = "semantic"
    topics = factory.LazyFunction(lambda: ["family"])
    entities = factory.LazyFunction(lambda: ["Anna", "Porto"])
    event_date = None
    source_message_ids = factory.LazyFunction(lambda: ["m0"])


def extraction_reply(*memories: dict) -> dict:
    """The model's reply listing `memories` (ExtractedMemoryFactory dicts)."""
    return {"memories": list(memories)}


def scripted_reply() -> dict:
    """The scripted LLM's reply for CONVERSATION: m0's fact and m2's plan, its date resolved."""
    return extraction_reply(
        ExtractedMemoryFactory(),
        ExtractedMemoryFactory(
            text="User's sister Anna is moving to Lisbon in the week of 2024-05-11.",
            memory_type="episodic",
            entities=["Anna", "Lisbon"],
            event_date="2024-05-11",
            source_message_ids=["m2"],
        ),
    )


# --- Working-memory sessions -----------------------------------------------------------------


class WorkingMemorySessionFactory(factory.DictFactory):
    """A session written by working_memory_put, its body first validated by the REST
    door's serializer (message ids, created_at and the strategy filled in as a PUT fills
    them), so it schedules promotion like any write. Returns the session as the API shows
    it. By default: alice's session in "ns" holding CONVERSATION."""

    session_id = factory.Sequence(lambda n: f"s-{n}")
    namespace = "ns"
    user_id = "alice"
    messages = factory.LazyFunction(conversation)

    @classmethod
    def _create(cls, model_class, *, session_id: str, window: int | None = None, **body) -> dict:
        from memory.api.working_memory.serializers import WorkingMemoryPutSerializer

        serializer = WorkingMemoryPutSerializer(data=body)
        serializer.is_valid(raise_exception=True)
        valid = serializer.validated_data
        return working_memory_put(
            session_id=session_id,
            namespace=valid["namespace"],
            user_id=valid["user_id"],
            messages=valid["messages"],
            memories=valid["memories"],
            data=valid["data"],
            context=valid["context"],
            ttl_seconds=valid["ttl_seconds"],
            long_term_memory_strategy=valid["long_term_memory_strategy"],
            window=window,
        )


# --- Named record sets ---------------------------------------------------------------------

# Three unrelated facts of one user in namespace "ns", by id: the `records` fixture.
ALICE = {
    "tea": "Alice drinks green tea every morning",
    "bike": "Alice rides her bike to work",
    "cat": "Alice has a cat",
}


def alice_records_create() -> dict[str, MemoryRecord]:
    """ALICE's records, approved, in namespace "ns"; the rows by id."""
    rows = memory_records_create(*({"id": key, "text": text} for key, text in ALICE.items()), namespace="ns")
    return {row.id: row for row in rows}


# --- The search set --------------------------------------------------------------------------


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


def search_set_create() -> list[MemoryRecord]:
    """SEARCH_SET (approved), then r5, a pending record of acme/u1 made 1 May 2024: the set
    the filter, listing and recency tests search."""
    rows = memory_records_create(*({"id": key, **fields} for key, fields in SEARCH_SET.items()))
    return rows + [
        MemoryRecordFactory(
            id="r5",
            text="Dan is learning to play the cello",
            namespace="acme",
            user_id="u1",
            topics=["pets"],
            created_at=day(5),
            last_accessed=day(5),
            status="pending",
            deduplicate=True,
        )
    ]
