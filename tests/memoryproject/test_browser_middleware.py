"""API routes pass by the browser's middleware; the admin keeps all of it."""

import pytest
from django.test import Client


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "browser_stack"),
    [("/v1/health", False), ("/admin/login/", True), ("/metrics", True)],
)
def test_only_non_api_routes_get_a_session_and_messages(path, browser_stack):
    # (`user` is no sign: DRF sets it on the Django request from its own authentication.)
    request = Client().get(path).wsgi_request
    for attribute in ("session", "_messages"):
        assert hasattr(request, attribute) is browser_stack, attribute


@pytest.mark.django_db
def test_an_api_response_sets_no_cookie_and_keeps_its_request_id():
    response = Client().get("/v1/health", headers={"X-Request-ID": "req-browser-mw-1"})
    assert response.status_code == 200
    assert response.cookies == {}
    assert response["X-Request-ID"] == "req-browser-mw-1"
