"""Search visibility of superseded records: every mode leaves them out by default,
`include_superseded` brings them back with their chain, and the detail route shows the link."""

import pytest

from memory.services.long_term import memories_create, memories_supersede

pytestmark = pytest.mark.django_db(transaction=True)

TENANT = {"namespace": "home", "user_id": "u1"}
FILTER = {"namespace": {"eq": "home"}, "user_id": {"eq": "u1"}}


@pytest.fixture
def chain():
    """Three versions of one fact, each superseding the one before, and one unrelated record."""
    created = memories_create(
        records=[
            {"text": "The Wi-Fi password is apple-1.", **TENANT},
            {"text": "The Wi-Fi password is banana-2.", **TENANT},
            {"text": "The Wi-Fi password is cherry-3.", **TENANT},
            {"text": "The boiler is serviced every May.", **TENANT},
        ],
        deduplicate=False,
        actor="test",
    )
    first, second, third, other = (o.id for o in created.outcomes)
    memories_supersede(pairs=[(first, second)], actor="test")
    memories_supersede(pairs=[(second, third)], actor="test")
    return first, second, third, other


def search(api, **body):
    response = api.post("/v1/long-term-memory/search", {**FILTER, "limit": 10, **body}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize("mode", ["semantic", "keyword", "hybrid"])
def test_every_mode_returns_current_records_only_by_default(api, chain, mode):
    first, second, third, other = chain
    found = search(api, text="Wi-Fi password", search_mode=mode)
    assert [m["id"] for m in found["memories"] if m["id"] != other] == [third]
    assert found["memories"][0]["supersedes"] == [second]
    assert all("chain" not in m for m in found["memories"])


def test_listing_by_filter_leaves_superseded_records_out(api, chain):
    first, second, third, other = chain
    listed = search(api, text="")
    assert sorted(m["id"] for m in listed["memories"]) == sorted([third, other])
    assert listed["total"] == 2


def test_include_superseded_returns_the_whole_chain_newest_first(api, chain):
    first, second, third, other = chain
    found = search(api, text="Wi-Fi password", search_mode="keyword", include_superseded=True)
    by_id = {m["id"]: m for m in found["memories"]}
    assert set(by_id) == {first, second, third}
    assert {i: (m["superseded_by"], m["supersedes"], m["chain"]) for i, m in by_id.items()} == {
        first: (second, [], [third, second, first]),
        second: (third, [first], [third, second, first]),
        third: (None, [second], [third, second, first]),
    }
    assert search(api, text="", include_superseded=True)["total"] == 4


def test_include_superseded_must_be_a_boolean(api, chain):
    response = api.post("/v1/long-term-memory/search", {"text": "x", "include_superseded": "maybe"}, format="json")
    assert response.status_code == 422, response.content
    assert response.json()["detail"][0]["loc"] == ["body", "include_superseded"]


def test_the_detail_route_shows_the_link_both_ways(api, chain):
    first, second, third, other = chain
    old = api.get(f"/v1/long-term-memory/{first}").json()
    assert (old["superseded_by"], old["superseded_at"] is not None, old["supersedes"]) == (second, True, [])
    current = api.get(f"/v1/long-term-memory/{third}").json()
    assert (current["superseded_by"], current["superseded_at"], current["supersedes"]) == (None, None, [second])
    assert api.get(f"/v1/long-term-memory/{other}").json()["supersedes"] == []
