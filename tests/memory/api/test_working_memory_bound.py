"""Working memory's fast answers (memory.api.working_memory.bound) are the serializers' answers.

A plain session id, or a query of a plain namespace and user_id, is answered without DRF;
everything else goes through the serializer. The properties hold the fast answers to the
serializers' own; the routes' tests pin the error bodies of what is not plain."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memory.api.fields import SessionIdSerializer
from memory.api.working_memory.bound import plain, plain_put_body, plain_scope_query
from memory.api.working_memory.serializers import (
    GetQuerySerializer,
    PutQuerySerializer,
    SessionQuerySerializer,
    WorkingMemoryPutSerializer,
)

URL = "/v1/working-memory/s-1"
# No time limits: on 2 shared cores a draw or an example can stall for a second (a full
# run failed the too_slow health check once); what is checked is the answers, not time.
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Strings near every rule's edge: empty, whitespace around, control characters, lone
# surrogates, 200 and 201 characters (SCOPE_MAX_LENGTH is 200), and ordinary ones.
EDGES = ["", " ", "a", " a", "a ", "a b", "a\nb", "a\x7fb", "a\x00b", "\ud800", "\u00a0a", "x" * 200, "x" * 201]
values = st.one_of(
    st.sampled_from(EDGES),
    st.text(st.characters(codec="ascii"), min_size=1, max_size=5),
    st.text(max_size=6),
    st.text(st.characters(min_codepoint=0, max_codepoint=0xE000, exclude_categories=()), max_size=4),
    st.integers(),
    st.none(),
    st.booleans(),
)
queries = st.one_of(
    st.dictionaries(st.sampled_from(["namespace", "user_id"]), values, max_size=2),
    st.dictionaries(st.sampled_from(["namespace", "user_id", "model_name", "other"]), values, max_size=3),
)


# PUT bodies near the plain body's edges. Messages carry an id and a past created_at, so
# both paths answer the same values (a missing id is a fresh ULID, a missing time now).
messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "", 3]), "content": st.sampled_from(["hi", " ", None])},
        optional={
            "id": st.sampled_from(["m-1", "m-2", "m\n3", ""]),
            "discrete_memory_extracted": st.sampled_from(["t", "f", "x"]),
            "persisted_at": st.sampled_from([None, "2024-05-01T12:00:00Z", "soon"]),
        },
    ).map(lambda m: {"created_at": "2024-05-01T12:00:00+00:00", "id": "m-0", **m}),
    max_size=3,
)
strategies = st.one_of(
    st.none(),
    st.sampled_from(["discrete", 1]),
    st.fixed_dictionaries(
        {},
        optional={
            "strategy": st.sampled_from(["discrete", "summary", "custom", "other", "", None, 2]),
            "config": st.sampled_from([{}, {"k": 1}, None, [], "x"]),
            "extra": st.just(1),
        },
    ),
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "messages": st.one_of(messages, st.none(), st.just("m")),
        "memories": st.sampled_from([[], None, [{"text": "t"}], {}]),
        "data": st.sampled_from([None, {}, {"a": [1]}, [], "d", 0]),
        "context": st.one_of(st.sampled_from(["", " ", "a\x00b", "\ud800", "ctx", None, 5]), st.text(max_size=4)),
        "namespace": values,
        "user_id": values,
        "ttl_seconds": st.sampled_from([None, 60, 0, "x"]),
        "long_term_memory_strategy": strategies,
        "session_id": st.just("ignored"),
        "tokens": st.just(12),
    },
)


@PROPERTY
@given(bodies)
def test_a_plain_put_body_is_answered_as_the_serializer_answers_it(body):
    answer = plain_put_body(body)
    if answer is not None:
        serializer = WorkingMemoryPutSerializer(data=body)
        assert serializer.is_valid(), serializer.errors
        assert dict(serializer.validated_data) == answer


def test_plain_put_body_knows_every_field_of_the_serializer():
    # plain_put_body answers for the whole serializer and ignores keys that are no field:
    # a field added to the serializer must be added there too, or it would be dropped.
    assert sorted(WorkingMemoryPutSerializer().fields) == [
        "context",
        "data",
        "long_term_memory_strategy",
        "memories",
        "messages",
        "namespace",
        "ttl_seconds",
        "user_id",
    ]


def test_the_benchmarks_body_and_the_clients_body_are_plain():
    message = {"id": "m-1", "role": "user", "content": "hi", "created_at": "2024-05-01T12:00:00Z"}
    stored = {
        "id": "m-1",
        "role": "user",
        "content": "hi",
        "created_at": "2024-05-01T12:00:00Z",
        "persisted_at": None,
        "discrete_memory_extracted": "f",
    }
    bench = {"namespace": "bench", "user_id": "user-3", "messages": [message], "data": {"step": 1}}
    assert plain_put_body(bench) == {
        "messages": [stored],
        "memories": [],
        "data": {"step": 1},
        "context": None,
        "user_id": "user-3",
        "namespace": "bench",
        "ttl_seconds": None,
        "long_term_memory_strategy": {"strategy": "discrete", "config": {}},
    }
    # agent-memory-client 0.14's body (model_dump(exclude_none=True)): every other field.
    client = {
        **bench,
        "session_id": "s-1",
        "memories": [],
        "tokens": 0,
        "long_term_memory_strategy": {"strategy": "discrete", "config": {}},
        "last_accessed": "2024-05-01T12:00:00Z",
    }
    assert plain_put_body(client) == plain_put_body(bench)
    assert plain_put_body({**client, "context": "", "long_term_memory_strategy": {"strategy": "summary"}}) == {
        **plain_put_body(bench),
        "context": "",
        "long_term_memory_strategy": {"strategy": "summary", "config": {}},
    }
    # A null config is the serializer's 422; the others are valid but the serializer's too.
    assert plain_put_body({**client, "long_term_memory_strategy": {"config": None}}) is None
    for not_plain in ({"memories": [{"text": "t"}]}, {"ttl_seconds": 60}, {"messages": [{"role": "user"}]}):
        assert plain_put_body({**bench, **not_plain}) is None


@PROPERTY
@given(values)
def test_a_plain_session_id_is_one_the_serializer_takes_unchanged(value):
    if plain(value):
        serializer = SessionIdSerializer(data={"session_id": value})
        assert serializer.is_valid(), serializer.errors
        assert serializer.validated_data["session_id"] == value


@pytest.mark.parametrize("serializer_class", [SessionQuerySerializer, GetQuerySerializer, PutQuerySerializer])
@PROPERTY
@given(query=queries)
def test_a_plain_scope_query_is_answered_as_the_serializer_answers_it(serializer_class, query):
    answer = plain_scope_query(query)
    if answer is not None:
        serializer = serializer_class(data=query)
        assert serializer.is_valid(), serializer.errors
        assert dict(serializer.validated_data) == answer


def test_what_is_plain():
    assert plain_scope_query({}) == {"namespace": None, "user_id": None}
    assert plain_scope_query({"namespace": "bench", "user_id": "u-1"}) == {"namespace": "bench", "user_id": "u-1"}
    assert plain_scope_query({"user_id": "x" * 200}) == {"namespace": None, "user_id": "x" * 200}
    # Anything else is the serializer's to answer.
    for query in ({"namespace": ""}, {"user_id": "x" * 201}, {"namespace": "a b "}, {"model_name": "gpt-4"}):
        assert plain_scope_query(query) is None
    assert [plain(v) for v in ("s-1", "a\tb", "\ud800", 7, None)] == [True, False, False, False, False]


@pytest.mark.parametrize("method", ["get", "put", "delete"])
@pytest.mark.parametrize(
    "query, body",
    [
        (
            "?namespace=a%0Ab",
            [{"loc": ["query", "namespace"], "msg": "Must not contain control characters.", "type": "invalid"}],
        ),
        (
            "?user_id=%20u",
            [{"loc": ["query", "user_id"], "msg": "Must not start or end with whitespace.", "type": "invalid"}],
        ),
        (
            "?namespace=" + "n" * 201,
            [
                {
                    "loc": ["query", "namespace"],
                    "msg": "Ensure this field has no more than 200 characters.",
                    "type": "max_length",
                }
            ],
        ),
        (
            "?namespace=a%7Fb&user_id=u%20",
            [
                {"loc": ["query", "namespace"], "msg": "Must not contain control characters.", "type": "invalid"},
                {"loc": ["query", "user_id"], "msg": "Must not start or end with whitespace.", "type": "invalid"},
            ],
        ),
    ],
    ids=["control", "whitespace", "long", "both"],
)
def test_a_scope_parameter_that_is_not_plain_gets_the_serializers_error(api, redis_client, method, query, body):
    response = getattr(api, method)(f"{URL}{query}", {"messages": []}, format="json")
    assert response.status_code == 422
    assert response.json() == {"detail": body}
    assert redis_client.dbsize() == 0


def test_a_blank_scope_parameter_is_answered_as_the_serializer_answers_it(api):
    # Not plain, so the serializer's: a blank query value passes as "" (a CharField's blank).
    assert api.put(f"{URL}?namespace=&user_id=", {"messages": []}, format="json").status_code == 200
    assert api.get(f"{URL}?namespace=&user_id=").json()["namespace"] == ""
