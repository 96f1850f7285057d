""" "Try it": a pasted conversation runs through a version inline, with the scripted
provider standing in for the LLM, and shows what it would remember; nothing is stored."""

import json
import re
from html import unescape

import pytest

from memory import index
from memory.models import MemoryHistory, MemoryRecord, SourceMessage
from policies.models import ExtractionRun
from tests.factories import PolicyFactory, PolicyVersionFactory
from tests.llm_server import MODEL, Fault

pytestmark = pytest.mark.django_db

CONVERSATION = json.dumps(
    [
        {"role": "user", "content": "I moved to Lisbon last month and I am vegetarian now."},
        {"role": "assistant", "content": "Noted!"},
    ]
)


def item(text: str, **fields) -> dict:
    return {
        "text": text,
        "memory_type": "semantic",
        "topics": [],
        "entities": [],
        "event_date": None,
        "source_message_ids": ["t1"],
        "action": "add",
        "replaces": None,
        **fields,
    }


REPLY = {
    "memories": [
        item("User lives in Lisbon.", topics=["home"], entities=["Lisbon"]),
        item("User is vegetarian.", topics=["food"]),
    ]
}


@pytest.fixture
def version(request):
    strategy = getattr(request, "param", "custom")
    template = "Facts about the user from:\n{{ turns }}" if strategy == "custom" else ""
    return PolicyVersionFactory(
        policy=PolicyFactory(name="editorial"), strategy=strategy, prompt_template=template, actor="t"
    )


def url(version) -> str:
    return f"/admin/policies/policyversion/{version.pk}/try/"


def cells(html: str, element_id: str) -> list[list[str]]:
    body = re.search(rf'<table id="{element_id}">(.*?)</table>', html, re.S).group(1)
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    return [
        [" ".join(unescape(re.sub(r"<[^>]+>", "", c)).split()) for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
        for r in rows
    ]


def figures(html: str) -> dict[str, str]:
    return {
        name: unescape(re.search(rf'<td id="try-it-{name}">(.*?)</td>', html, re.S).group(1))
        for name in ("model", "tokens-in", "tokens-out", "cost", "latency", "dropped")
    }


def assert_nothing_stored():
    assert MemoryRecord.objects.count() == 0
    assert ExtractionRun.objects.count() == 0
    assert MemoryHistory.objects.count() == 0
    assert SourceMessage.objects.count() == 0
    assert index.document_ids() == set()


def test_try_it_shows_the_memories_tokens_cost_latency_and_raw_output_and_stores_nothing(
    admin_client, llm_settings, llm_server, version
):
    llm_server.script(REPLY)
    llm_server.latency = 0.2
    page = admin_client.get(f"/admin/policies/policyversion/{version.pk}/change/").content.decode()
    assert f'href="{url(version)}" id="try-it"' in page
    html = admin_client.post(url(version), {"conversation": CONVERSATION}).content.decode()

    assert 'id="try-it-form"' in html and 'id="try-it-error"' not in html
    assert cells(html, "try-it-memories")[1:] == [
        ["User lives in Lisbon.", "semantic", "home", "Lisbon", "—", "t1", "—"],
        ["User is vegetarian.", "semantic", "food", "", "—", "t1", "—"],
    ]
    [request] = llm_server.requests
    assert request["messages"][0]["content"].startswith(
        "Facts about the user from:\nuser: I moved to Lisbon last month and I am vegetarian now.\nassistant: Noted!\n"
    )
    sent_words = sum(len(m["content"].split()) for m in request["messages"])  # the scripted server's own count
    shown = figures(html)
    assert shown["model"] == MODEL
    assert shown["tokens-in"] == str(sent_words)
    assert shown["tokens-out"] == str(len(json.dumps(REPLY).split()))
    assert shown["cost"] == "$0.000000"  # the scripted model has no price
    assert int(shown["latency"].removesuffix(" ms")) >= 200
    assert shown["dropped"] == "none"
    raw = unescape(re.search(r'<pre id="try-it-raw-output"[^>]*>(.*?)</pre>', html, re.S).group(1))
    assert json.loads(raw) == REPLY
    assert_nothing_stored()


def test_plain_lines_are_turns_and_the_messages_strategy_needs_no_llm(admin_client, settings, llm_server):
    settings.LLM_MODEL = ""
    version = PolicyVersionFactory(policy=PolicyFactory(name="raw"), strategy="messages", actor="t")
    html = admin_client.post(url(version), {"conversation": "user: Hello there\n\nassistant: Hi!"}).content.decode()
    assert "LLM extraction is off" in html
    assert [row[:2] for row in cells(html, "try-it-memories")[1:]] == [
        ["user: Hello there", "message"],
        ["assistant: Hi!", "message"],
    ]
    assert figures(html)["model"] == "none (raw turns)"
    assert llm_server.requests == []
    assert_nothing_stored()


def test_without_an_llm_the_page_says_so_and_an_llm_version_cannot_be_tried(
    admin_client, settings, llm_server, version
):
    settings.LLM_MODEL = ""
    html = admin_client.get(url(version)).content.decode()
    notice = " ".join(
        unescape(re.sub(r"<[^>]+>", "", re.search(r'id="try-it-no-llm">(.*?)</p>', html, re.S).group(1))).split()
    )
    assert notice == (
        "LLM extraction is off: LLM_MODEL is not set, so only versions of the messages strategy (raw turns, no LLM) "
        "can be tried. This version (Custom template) cannot be tried here."
    )
    assert 'id="try-it-form"' not in html
    posted = admin_client.post(url(version), {"conversation": CONVERSATION}).content.decode()
    assert 'id="try-it-memories"' not in posted
    assert llm_server.requests == []
    assert_nothing_stored()


@pytest.mark.parametrize(
    "conversation, error",
    [
        ("user: hi\nthis line has no role", "Line 2: expected `role: text`, got &#x27;this line has no role&#x27;."),
        ("user: hi\nrobot: beep", "Line 2: unknown role &#x27;robot&#x27;; roles: user, assistant, system, tool."),
        (
            '[{"role": "user", "content": "hi"},\n {"role": "user"}]',
            "Message 2: needs &quot;role&quot; and &quot;content&quot; strings.",
        ),
        (
            '[{"role": "user",\n "content": "hi"',
            "Line 2: not valid JSON (Expecting &#x27;,&#x27; delimiter, column 17).",
        ),
        ("   ", "This field is required."),
    ],
)
def test_bad_input_is_a_form_error_naming_the_line(
    admin_client, llm_settings, llm_server, version, conversation, error
):
    html = admin_client.post(url(version), {"conversation": conversation}).content.decode()
    assert error in html
    assert llm_server.requests == []


@pytest.mark.parametrize(
    "fault, message",
    [
        (Fault.unauthorized(), "The model call failed: AuthenticationError"),
        (Fault.server_error(), "The model call failed: InternalServerError"),
        (Fault.malformed_json(), "The model call failed: reply is not valid JSON"),
    ],
)
def test_a_provider_error_is_a_message_not_a_500(admin_client, llm_settings, llm_server, version, fault, message):
    llm_server.script(fault)
    response = admin_client.post(url(version), {"conversation": CONVERSATION})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert_nothing_stored()


def test_a_provider_error_is_shown_as_one_short_line_never_the_replys_body(
    admin_client, llm_settings, llm_server, version
):
    body = "upstream said: " + "x" * 300 + "\n<html>internal status page</html>\nsecret-token-1234"
    llm_server.script(Fault.bad_request(body))

    html = admin_client.post(url(version), {"conversation": CONVERSATION}).content.decode()

    error = unescape(
        re.search(r'<p class="errornote" id="try-it-error">The model call failed: (.*?)</p>', html).group(1)
    )
    assert error.startswith("BadRequestError (HTTP 400): ") and error.endswith("…")
    assert len(error) == len("BadRequestError (HTTP 400): ") + 200
    assert "secret-token-1234" not in html and "internal status page" not in html
    assert len(llm_server.requests) == 1
    assert_nothing_stored()
