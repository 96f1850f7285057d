"""The summary policy in the admin: its purpose shown and filtered on, and "Try it" for a
summarize version (pasted memories in, the summary and its figures out, nothing stored)."""

import re
from html import unescape

import pytest

from policies.models import SummaryRun
from policies.services.summary import summary_version_for_view
from policies.services.versions import summary_policy_ensure
from tests.factories import PolicyVersionFactory
from tests.llm_server import MODEL, Fault

pytestmark = pytest.mark.django_db

MEMORIES = "Alice drinks green tea every morning.\nAlice prefers green tea to coffee.\n\nThe invoice is 4471.\n"


def url(version) -> str:
    return f"/admin/policies/policyversion/{version.pk}/try/"


def text_of(html: str, element: str, element_id: str) -> str:
    return unescape(re.search(rf'<{element}[^>]* id="{element_id}"[^>]*>(.*?)</{element}>', html, re.S).group(1))


def test_try_it_summarises_the_pasted_memories_by_the_model_and_stores_nothing(admin_client, llm_settings, llm_server):
    version = summary_version_for_view(prompt="Summarise Alice.", model_name=None, actor="test")
    llm_server.script("Alice likes green tea.")
    page = admin_client.get(f"/admin/policies/policyversion/{version.pk}/change/").content.decode()
    assert f'href="{url(version)}" id="try-it"' in page
    html = admin_client.post(url(version), {"memories": MEMORIES}).content.decode()
    assert text_of(html, "pre", "try-it-summary") == "Alice likes green tea."
    assert text_of(html, "span", "try-it-kind") == "(written by the model)"
    (request,) = llm_server.requests
    content = request["messages"][0]["content"]
    assert content.startswith("Summarise Alice.\n\nGROUP: {}\n\nMEMORIES:\n- [")
    assert content.endswith("] The invoice is 4471.\n\nSUMMARY:")
    assert [line.split("] ", 1)[1] for line in content.splitlines() if line.startswith("- [")] == [
        "Alice drinks green tea every morning.",
        "Alice prefers green tea to coffee.",
        "The invoice is 4471.",
    ]
    assert text_of(html, "td", "try-it-covered") == "3 of 3"
    assert text_of(html, "td", "try-it-model") == MODEL
    assert text_of(html, "td", "try-it-tokens-in") == str(len(content.split()))
    assert text_of(html, "td", "try-it-tokens-out") == "4"
    assert text_of(html, "td", "try-it-cost") == "$0.000000"
    assert text_of(html, "pre", "try-it-raw-output") == "Alice likes green tea."
    assert SummaryRun.objects.count() == 0


def test_try_it_without_an_llm_shows_the_extractive_summary(admin_client, settings):
    settings.LLM_MODEL = ""
    settings.SUMMARY_EXTRACTIVE_MAX_CHARS = 105  # two lines of these fit, not three
    version = summary_policy_ensure()
    html = admin_client.post(url(version), {"memories": MEMORIES}).content.decode()
    summary = text_of(html, "pre", "try-it-summary")
    assert text_of(html, "span", "try-it-kind") == "(extractive: no LLM configured)"
    lines = summary.splitlines()
    assert lines[0] == "Extractive summary (no LLM configured): 2 of 3 memories, the most central, in time order."
    assert [line.split("] ", 1)[1] for line in lines[1:]] == [
        "Alice drinks green tea every morning.",
        "Alice prefers green tea to coffee.",
    ]
    assert text_of(html, "td", "try-it-model") == "none (extractive)"
    assert 'id="try-it-raw-output"' not in html
    assert SummaryRun.objects.count() == 0


def test_try_it_shows_a_provider_failure(admin_client, llm_settings, llm_server):
    llm_server.script(Fault.unauthorized())
    version = summary_policy_ensure()
    html = admin_client.post(url(version), {"memories": MEMORIES}).content.decode()
    assert "Incorrect API key provided" in text_of(html, "p", "try-it-error")
    assert 'id="try-it-summary"' not in html


def test_try_it_refuses_more_lines_than_it_takes(admin_client, settings):
    settings.LLM_MODEL = ""
    html = admin_client.post(url(summary_policy_ensure()), {"memories": "memory\n" * 201}).content.decode()
    assert "201 lines: at most 200." in html
    assert 'id="try-it-summary"' not in html


def test_the_policy_list_shows_and_filters_by_purpose(admin_client):
    summary_policy_ensure()
    PolicyVersionFactory(publish=True)
    listing = admin_client.get("/admin/policies/policy/").content.decode()
    assert re.findall(r'<td class="field-purpose">(.*?)</td>', listing) == ["Extraction", "Summary views"]
    summary_only = admin_client.get("/admin/policies/policy/?purpose__exact=summary").content.decode()
    assert re.findall(r'<th class="field-name"><a [^>]*>(.*?)</a>', summary_only) == ["summary-views"]


def test_a_new_summary_version_from_the_admin_takes_a_plain_prompt(admin_client, settings):
    settings.LLM_MODEL = ""
    published = summary_policy_ensure()
    form = {"strategy": "summarize", "prompt_template": "Keep {{ braces }}.", "model": "", "params": "{}"}
    response = admin_client.post(
        f"/admin/policies/policyversion/{published.pk}/new-version/", {**form, "review_mode": "approved"}
    )
    created = published.policy.versions.get(number=2)
    assert response.status_code == 302 and response.url == f"/admin/policies/policyversion/{created.pk}/change/"
    assert (created.strategy, created.prompt_template, created.created_by) == (
        "summarize",
        "Keep {{ braces }}.",
        "admin:admin",
    )
