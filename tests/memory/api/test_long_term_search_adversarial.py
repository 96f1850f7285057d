"""No search text can hurt Redis: adversarial texts through keyword and hybrid search.

RediSearch 2.10 segfaults on some text unions that start with stopwords; the natural
question below crashed the whole server when another server passed it through raw.
"""

import pytest

from tests.factories import memory_records_create

pytestmark = pytest.mark.django_db(transaction=True)

ADVERSARIAL = [
    "Will there be an interview required to volunteer with the organization James volunteered for?",
    "be an interview",
    "will there interview",
    "the a an of to in",  # stopwords only
    "AND OR NOT",
    "cats AND dogs OR NOT birds",
    "(unbalanced (brackets",
    "unbalanced) ]brackets[ }",
    '"unbalanced quote',
    "it's O'Brien's 'quote",
    "*",
    "volunteer*",
    "%fuzzy%",
    "%%%",
    "@text:(hack)",
    "@namespace:{other}",
    "{}",
    "{a|b}",
    "a | b | c",
    "|",
    "-interview",
    "--",
    "~optional",
    "$param",
    "=>[KNN 10 @vector $vec]",
    "\\ backslash \\\\",
    "ünïcödé café naïve",
    "日本語のテキスト 中文",
    "emoji 😀🔥 volunteer 🧠",
    "\u200b\u200d zero width",
    "x" * 64 + " " + "y" * 65,
    " ".join(f"word{i}" for i in range(200)),
    "volunteer " * 1200,  # about 10 KB
]


ADV_TEXTS = [
    "James volunteered at the animal shelter; an interview was required",
    "Organization rules: volunteers need an interview",
]


@pytest.fixture(autouse=True)
def adversarial_records():
    """Two records in `adv`, and the same words in `adv-other`: a search filtered on `adv`
    that leaked across namespaces would return the copies."""
    memory_records_create(*({"id": f"adv-{i}", "text": text} for i, text in enumerate(ADV_TEXTS)), namespace="adv")
    memory_records_create(
        *({"id": f"other-{i}", "text": text} for i, text in enumerate(ADV_TEXTS)), namespace="adv-other"
    )


@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
def test_no_search_text_can_hurt_redis(api, redis_client, mode):
    for text in ADVERSARIAL:
        response = api.post(
            "/v1/long-term-memory/search",
            {"text": text, "search_mode": mode, "namespace": {"eq": "adv"}},
            format="json",
        )
        assert response.status_code == 200, (text[:80], response.content[:300])
        assert redis_client.ping() is True, text[:80]
        body = response.json()
        assert body["total"] >= len(body["memories"])
        assert {m["namespace"] for m in body["memories"]} <= {"adv"}
        assert not {m["id"] for m in body["memories"]} & {"other-0", "other-1"}
    # Still answering real queries after all of that, and still only within the namespace.
    body = api.post(
        "/v1/long-term-memory/search",
        {"text": "Will there be an interview required to volunteer?", "search_mode": mode, "namespace": {"eq": "adv"}},
        format="json",
    ).json()
    assert body["total"] == 2
    assert sorted(m["id"] for m in body["memories"]) == ["adv-0", "adv-1"]
    # The copies are there to be found: the filter, not a missing record, kept them out.
    body = api.post(
        "/v1/long-term-memory/search",
        {
            "text": "Will there be an interview required to volunteer?",
            "search_mode": mode,
            "namespace": {"eq": "adv-other"},
        },
        format="json",
    ).json()
    assert sorted(m["id"] for m in body["memories"]) == ["other-0", "other-1"]


def test_a_stopword_only_keyword_query_is_no_text_condition_and_lists_by_filter(api):
    body = api.post(
        "/v1/long-term-memory/search",
        {"text": "will there be an", "search_mode": "keyword", "namespace": {"eq": "adv"}},
        format="json",
    ).json()
    assert body["total"] == 2 and len(body["memories"]) == 2
    assert sorted(m["id"] for m in body["memories"]) == ["adv-0", "adv-1"]
