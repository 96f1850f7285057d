"""docs/api.md replayed: every documented request is sent again, in the page's order, with
the test client, and must answer the documented status with the documented keys (at
every level), so the page cannot drift from the API. Ids the page shows (records, views,
tasks, history entries) are those of the run that wrote it: each is mapped to the id the
replay got at the same place in the same answer, and sent in its stead. The page must
also cover every route of the REST URL conf."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.urls import resolve
from rest_framework.test import APIClient

from tests.helpers import BASE_DIR

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLE = re.compile(
    r"```http\n(?P<method>[A-Z]+) (?P<path>\S+)\n```\n"
    r"(?:```json\n(?P<body>.*?)\n```\n)?"
    r"Response `(?P<status>\d{3})`[^\n]*:\n\n```json\n(?P<response>.*?)\n```",
    re.DOTALL,
)
# Keys whose values are ids the server makes; the replay's take their place.
ID_KEYS = {"id", "view_id", "history_id"}


def _examples() -> list[dict[str, Any]]:
    text = (Path(BASE_DIR) / "docs" / "api.md").read_text()
    return [
        {
            "method": match["method"],
            "path": match["path"],
            "body": json.loads(match["body"]) if match["body"] else None,
            "status": int(match["status"]),
            "response": json.loads(match["response"]),
        }
        for match in EXAMPLE.finditer(text)
    ]


def _learn_ids(documented: Any, actual: Any, ids: dict[str, str]) -> None:
    """Walk both answers side by side (a documented list may be cut short: zip stops there)."""
    if isinstance(documented, dict) and isinstance(actual, dict):
        for key, value in documented.items():
            if key in ID_KEYS and isinstance(value, (str, int)) and key in actual:
                ids[str(value)] = str(actual[key])
            elif key in actual:
                _learn_ids(value, actual[key], ids)
    elif isinstance(documented, list) and isinstance(actual, list):
        for doc_item, actual_item in zip(documented, actual, strict=False):
            _learn_ids(doc_item, actual_item, ids)


def _substituted(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"(?<=/)[^/?&=]+|(?<==)[^&]+", lambda m: ids.get(m.group(0), m.group(0)), path)


def _key_mismatches(documented: Any, actual: Any, where: str = "") -> list[str]:
    if isinstance(documented, dict):
        if not isinstance(actual, dict):
            return [f"{where or 'the answer'}: an object documented, {type(actual).__name__} answered"]
        found = (
            []
            if set(documented) == set(actual)
            else [f"{where or 'the answer'}: {sorted(documented)} vs {sorted(actual)}"]
        )
        return found + [
            m for k in documented if k in actual for m in _key_mismatches(documented[k], actual[k], f"{where}.{k}")
        ]
    if isinstance(documented, list) and isinstance(actual, list):
        return [m for d, a in zip(documented, actual, strict=False) for m in _key_mismatches(d, a, f"{where}[]")]
    return []


def test_every_documented_request_answers_as_documented(api: APIClient) -> None:
    examples = _examples()
    assert len(examples) == 23  # one per route and method of docs/api.md's contents
    ids: dict[str, str] = {}
    for example in examples:
        path = _substituted(example["path"], ids)
        body = example["body"]
        if body is None:
            response = api.generic(example["method"], path)
        else:
            response = api.generic(example["method"], path, json.dumps(body), content_type="application/json")
        answer = response.json()
        assert response.status_code == example["status"], (example["method"], path, answer)
        assert _key_mismatches(example["response"], answer) == [], (example["method"], path)
        _learn_ids(example["response"], answer, ids)


def test_the_page_covers_every_rest_route() -> None:
    from memory.api import urls

    documented = {(e["method"], resolve(e["path"].split("?")[0]).url_name) for e in _examples()}
    routes = {pattern.name for pattern in urls.urlpatterns}
    assert {name for _, name in documented} == routes
    assert len(documented) == 23
