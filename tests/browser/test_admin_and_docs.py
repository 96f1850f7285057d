"""The admin and the API docs as a new user meets them under a `make run`-style
deployment: styled, and rendered with no request leaving the host."""

import pytest
from django.contrib.auth.models import User
from selenium.webdriver.common.by import By

from tests.browser.pages import PASSWORD, admin_login, element, resources_from_elsewhere, stylesheet_rules, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.multiprocess]

UNSTYLED = "rgba(0, 0, 0, 0)"  # a div's background with no stylesheet


def page_links_elsewhere(driver, base_url: str) -> list[str]:
    """Stylesheets, scripts and icons the page asks for from another origin."""
    urls = driver.execute_script(
        """return [...document.querySelectorAll('link[href], script[src]')]
               .map(e => e.href || e.src);"""
    )
    return [url for url in urls if not url.startswith(base_url + "/")]


def test_the_admin_loads_its_stylesheet_under_gunicorn(deployment, browser, screenshot):
    User.objects.create_superuser("admin", "admin@example.com", PASSWORD)
    browser.get(f"{deployment.url}/admin/")

    element(browser, "#login-form")
    assert stylesheet_rules(browser, "/static/admin/css/base.css")[0] > 100
    header = browser.execute_script("return getComputedStyle(document.getElementById('header')).backgroundColor;")
    assert header != UNSTYLED
    screenshot("admin-login")

    admin_login(browser, deployment.url, "admin")
    assert element(browser, "#content h1").text == "What needs attention"
    assert stylesheet_rules(browser, "/static/admin/css/base.css")[0] > 100
    assert resources_from_elsewhere(browser, deployment.url) == []
    screenshot("admin-index")


def test_swagger_ui_renders_the_operations_offline(deployment, browser, screenshot):
    browser.get(f"{deployment.url}/docs/")

    wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= 5, what="Swagger UI operations")
    paths = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/v1/working-memory/", "/v1/working-memory/{session_id}", "/v1/long-term-memory/search"} <= paths
    assert page_links_elsewhere(browser, deployment.url) == []
    assert resources_from_elsewhere(browser, deployment.url) == []
    screenshot("swagger-ui")


def test_redoc_renders_the_operations_offline(deployment, browser, screenshot):
    browser.get(f"{deployment.url}/redoc/")

    wait_for(
        browser,
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "[data-section-id^='operation/']")) >= 5,
        what="Redoc operations",
    )
    assert "Agent memory server" in element(browser, ".api-info h1").text
    assert "/v1/working-memory/{session_id}" in browser.find_element(By.CSS_SELECTOR, ".api-content").text
    assert page_links_elsewhere(browser, deployment.url) == []
    # Only the "API docs by Redocly" footer's logo, an image Redoc hides when it fails.
    assert {kind for kind, _ in resources_from_elsewhere(browser, deployment.url)} <= {"img"}
    screenshot("redoc")
