"""Inputs schema fuzzing and the property tests found answering 500 (or an HTML page):
each is now a JSON 4xx naming the problem, or a 200 (RELIABILITY.md lists them)."""

import pytest

pytestmark = pytest.mark.django_db

BIG = 10**30
TURN = [{"role": "user", "content": "x"}]


@pytest.mark.parametrize(
    "method, path, body, status, loc",
    [
        (
            "post",
            "/v1/long-term-memory/search",
            {
                "offset": 708,
                "limit": 22,
                "recency_half_life_last_access_days": 4.46e306,
                "recency_recency_weight": 1.37e308,
            },
            422,
            ["body", "recency_recency_weight"],
        ),
        (
            "put",
            "/v1/working-memory/s1",
            {"messages": [{"id": {}, "role": "", "content": ""}]},
            422,
            ["body", "messages", 0, "role"],
        ),
        ("get", f"/v1/working-memory/?offset={BIG}", None, 422, ["query", "offset"]),
        ("put", "/v1/working-memory/s1", {"messages": TURN, "ttl_seconds": BIG}, 422, ["body", "ttl_seconds"]),
        (
            "post",
            "/v1/long-term-memory/forget?namespace=n",
            {"policy": {"max_age_days": 1e300}},
            422,
            ["body", "policy", "max_age_days"],
        ),
    ],
    ids=[
        "recency-near-float-max",
        "message-id-object",
        "list-offset-past-int64",
        "ttl-past-redis",
        "forget-age-overflow",
    ],
)
def test_an_out_of_range_value_is_a_422_naming_it(api, method, path, body, status, loc):
    response = getattr(api, method)(path, body, format="json")
    assert response.status_code == status, response.content
    assert loc in [problem["loc"] for problem in response.json()["detail"]]


def test_recency_numbers_an_exponent_would_print_are_searched(api):
    body = {
        "text": "",
        "recency_freshness_weight": 1.4366474020910006e-08,
        "recency_half_life_last_access_days": 964473.2,
    }
    response = api.post("/v1/long-term-memory/search", body, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"memories": [], "total": 0, "next_offset": None}


def test_a_path_under_v1_matching_no_route_is_a_json_404(api):
    response = api.post("/v1/long-term-memory/history/null,null/undo")
    assert (response.status_code, response["Content-Type"]) == (404, "application/json")
    assert response.json() == {"detail": "No route /v1/long-term-memory/history/null,null/undo"}


def test_a_body_over_djangos_cap_on_a_long_term_route_is_a_json_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.post("/v1/long-term-memory/", {"memories": [{"text": "x" * 2000}]}, format="json")
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large: at most 1000 bytes."}


def test_a_forget_age_reaching_past_year_one_forgets_nothing(api):
    # Inside the 422's bound (MAX_HALF_LIFE_DAYS) yet before year 1: the date arithmetic
    # overflowed, a 500 (found once the fuzzer sent forget's required namespace).
    created = api.post("/v1/long-term-memory/", {"memories": [{"text": "old", "namespace": "n"}]}, format="json")
    assert created.status_code == 200, created.content
    body = {"policy": {"max_age_days": 999999.0, "max_inactive_days": 999999.0}}
    response = api.post("/v1/long-term-memory/forget?namespace=n", body, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["scanned"], response.json()["deleted_ids"]) == (1, [])
