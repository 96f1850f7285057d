"""Promotion asks the experiment which version extracts a session: the run records the
experiment and the variant (so each memory leads back to it), the session keeps its
variant, and a stopped experiment hands sessions back to the published version. Real
Redis, DB and embedding model; the scripted LLM server answers."""

import pytest

from memory.models import MemoryRecord
from memory.services.promotion import promotion_run
from policies.models import Assignment, ExtractionRun
from policies.selectors.experiments import variant_by_weight
from policies.services.experiments import (
    experiment_stop,
    experiment_variant_weights_set,
)
from tests.factories import ExperimentFactory, ExtractedMemoryFactory, conversation, extraction_reply
from tests.helpers import put_session

NS, USER, EDITOR = "travel", "alice", "admin:erin"
TURNS = conversation(3)  # the tests' conversation: m0 to m2
REPLY = extraction_reply(ExtractedMemoryFactory())  # m0's fact only


@pytest.fixture
def experiment(llm_settings, llm_server, transactional_db):
    """Running in NS: A publishes a discrete version, B tries max_memories 3 (tests/factories.py)."""
    llm_server.default = REPLY
    return ExperimentFactory(key="sharper", namespaces=[NS], actor=EDITOR)


def session_in(experiment, name: str) -> str:
    """A session id whose hash falls in variant `name` under the current weights."""
    return next(
        f"s-{n}"
        for n in range(100)
        if variant_by_weight(experiment=experiment, namespace=NS, session_id=f"s-{n}").name == name
    )


@pytest.mark.parametrize("name", ["A", "B"])
def test_the_run_records_the_experiment_and_variant_and_its_memories_lead_back(client, experiment, name):
    session_id = session_in(experiment, name)
    put_session(client, session_id, TURNS, namespace=NS, user_id=USER)

    run = promotion_run(namespace=NS, user_id=USER, session_id=session_id)

    variant = experiment.variants.get(name=name)
    assert (run.status, run.experiment, run.variant, run.policy_version) == (
        "succeeded", experiment, variant, variant.version,
    )  # fmt: skip
    assert list(Assignment.objects.values_list("namespace", "session_id", "variant__name")) == [(NS, session_id, name)]
    [memory] = MemoryRecord.objects.all()
    assert (memory.text, memory.extraction_run.variant, memory.extraction_run.experiment) == (
        "User's sister Anna lives in Porto.", variant, experiment,
    )  # fmt: skip


def test_a_session_keeps_its_variant_when_the_weights_change(client, experiment):
    session_id = session_in(experiment, "B")
    put_session(client, session_id, TURNS[:2], namespace=NS, user_id=USER)
    first = promotion_run(namespace=NS, user_id=USER, session_id=session_id)
    # All new sessions would now go to A; this one was stored in B on its first run.
    experiment_variant_weights_set(experiment=experiment, weights={"A": 1_000_000, "B": 1}, actor=EDITOR)
    put_session(client, session_id, TURNS, namespace=NS, user_id=USER)

    second = promotion_run(namespace=NS, user_id=USER, session_id=session_id)

    assert (first.variant.name, second.variant.name, second.pk != first.pk) == ("B", "B", True)
    assert Assignment.objects.count() == 1


def test_a_stopped_experiment_sends_sessions_to_the_published_version_and_assigns_nobody(client, experiment):
    published = experiment.variants.get(name="A").version
    experiment_stop(experiment=experiment, actor=EDITOR)
    session_id = session_in(experiment, "B")
    put_session(client, session_id, TURNS, namespace=NS, user_id=USER)

    run = promotion_run(namespace=NS, user_id=USER, session_id=session_id)

    assert (run.status, run.policy_version, run.experiment, run.variant) == ("succeeded", published, None, None)
    assert Assignment.objects.count() == 0


def test_a_namespace_out_of_scope_gets_the_published_version(client, experiment):
    put_session(client, "s-elsewhere", TURNS, namespace="shop", user_id=USER)
    run = promotion_run(namespace="shop", user_id=USER, session_id="s-elsewhere")
    assert (run.policy_version, run.experiment, run.variant) == (experiment.variants.get(name="A").version, None, None)
    assert (Assignment.objects.count(), ExtractionRun.objects.count()) == (0, 1)
