"""The README's Quickstart, run as written: each block marked `<!-- quickstart: <step> -->`
is taken from README.md and run in order (sh blocks with bash, the MCP snippet with the
venv's Python) against `bin/serve`, the script `make run` starts, with the promotion window
the README's own `make run` line sets. Only the addresses change: the README's
127.0.0.1:8000, :9000 and var/dev-api-key become this server's ports and key file. The
admin clicks of step 9 go through the real admin with a logged-in session, on the labels
the README names; each step's answer is checked with exact values."""

import json
import os
import re
import signal
import subprocess
import time
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests
from django.contrib.auth.models import User

from memory.models import MemoryRecord
from policies.models import Policy
from tests.helpers import BASE_DIR, PYTHON, child_env, free_port, wait_for_http, wait_until
from tests.mcp.client import TOOL_NAMES

pytestmark = pytest.mark.multiprocess

STEPS = [
    "serve",
    "key",
    "admin-user",
    "conversation",
    "searchable",
    "create",
    "search",
    "prompt",
    "review-conversation",
    "reviewed",
    "mcp",
]
BLOCK = re.compile(r"<!-- quickstart: (?P<step>[\w-]+) -->\n```(?P<lang>sh|python)\n(?P<code>.*?)\n```\n", re.S)
# The answer a block's output must equal, where the README shows it in full (```text).
SHOWN_OUTPUT = re.compile(r"\A\n```text\n(?P<output>.*?)\n```\n", re.S)
README_API, README_MCP, README_KEY = "http://127.0.0.1:8000", "http://127.0.0.1:9000", "var/dev-api-key"
USER_TURN = "I am flying to Lisbon on 12 May. I always take a window seat."
ASSISTANT_TURN = "Noted: a window seat for your Lisbon flight on 12 May."
QUERY = "Which meal should I order for my flight?"
PASSPORT = "user: My passport expires in March 2027."
# What step 9 tells a newcomer to click, page by page: each must be on the README and on the page.
ADMIN_LABELS = [
    "Published version",
    "default v1 (messages)",
    "New version from this one",
    "Review mode",
    "New memories wait for review",
    "Save as a new version",
    "Publish v2",
    "Review queue",
    "1 left",
    "Approve",
    "Nothing left to review",
]


def quickstart_section() -> str:
    readme = (BASE_DIR / "README.md").read_text()
    start = readme.index("\n## Quickstart\n")
    return readme[start : readme.index("\n## ", start + 1)]


class Tour:
    """Runs the Quickstart's blocks in order; variables a block sets (`KEY`) carry to the next."""

    def __init__(self, *, api: str, mcp: str, key_file: Path, state: Path):
        self.section = quickstart_section()
        found = list(BLOCK.finditer(self.section))
        assert [m["step"] for m in found] == STEPS, "the Quickstart's marked blocks changed: update STEPS"
        self.blocks = {m["step"]: (m["lang"], m["code"]) for m in found}
        self.shown = {m["step"]: SHOWN_OUTPUT.match(self.section, m.end()) for m in found}
        self.places = {README_API: api, README_MCP: mcp, README_KEY: str(key_file)}
        self.env, self.state = child_env(), state

    def code(self, step: str) -> str:
        code = self.blocks[step][1]
        for written, here in self.places.items():
            code = code.replace(written, here)
        return code

    def run(self, step: str) -> str:
        lang, code = self.blocks[step][0], self.code(step)
        if lang == "python":
            done = subprocess.run([PYTHON, "-"], input=code, **self._options())
        else:  # allexport, so what the block assigns is in the environment it leaves behind
            script = f"set -a -e -o pipefail\n{code}\nenv -0 > {self.state}\n"
            done = subprocess.run(["bash", "-c", script], **self._options())
            pairs = (item.partition("=") for item in self.state.read_text().split("\0") if item)
            self.env = {name: value for name, _, value in pairs}
        assert done.returncode == 0, f"step {step} failed:\n{done.stdout}\n{done.stderr}"
        shown = self.shown[step]
        if shown is not None:  # the README prints this answer in full: it must be the real one
            assert done.stdout.rstrip("\n") == shown["output"], step
        return done.stdout

    def json(self, step: str) -> dict:
        return json.loads(self.run(step))

    def _options(self) -> dict:
        return {"cwd": BASE_DIR, "env": self.env, "capture_output": True, "text": True, "timeout": 120}


class Forms(HTMLParser):
    """The fields of every form on a page as a browser would submit them (no submit buttons)."""

    def __init__(self, html: str):
        super().__init__()
        self.forms: dict[str, dict] = {}
        self.current: dict | None = None
        self.select: str | None = None
        self.textarea: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "form":
            self.current = self.forms.setdefault(a.get("id", ""), {"action": a.get("action"), "fields": {}})
        elif self.current is None:
            return
        elif tag == "input" and a.get("name") and a.get("type") not in ("submit", "checkbox"):
            self.current["fields"][a["name"]] = a.get("value") or ""
        elif tag == "input" and a.get("type") == "checkbox" and "checked" in a:
            self.current["fields"][a["name"]] = a.get("value") or "on"
        elif tag == "select":
            self.select = a["name"]
        elif tag == "option" and self.select and ("selected" in a or self.select not in self.current["fields"]):
            self.current["fields"][self.select] = a.get("value") or ""
        elif tag == "textarea":
            self.textarea = a["name"]
            self.current["fields"][self.textarea] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.current = None
        elif tag == "select":
            self.select = None
        elif tag == "textarea" and self.current is not None and self.textarea:
            # HTML drops the newline that may open a textarea's content.
            fields = self.current["fields"]
            fields[self.textarea] = fields[self.textarea].removeprefix("\n")
            self.textarea = None

    def handle_data(self, data: str) -> None:
        if self.current is not None and self.textarea:
            self.current["fields"][self.textarea] += data


def link(html: str, text: str) -> str:
    """Where the page's links named `text` lead (one place, however many links)."""
    hrefs = set(re.findall(rf'<a href="([^"]+)"[^>]*>\s*{re.escape(escape(text))}\s*</a>', html))
    assert len(hrefs) == 1, f"links named {text!r}: {hrefs}"
    return hrefs.pop().replace("&amp;", "&")


class Admin:
    """A logged-in admin session on the server at `url`."""

    def __init__(self, url: str, *, username: str, password: str):
        self.url, self.session = url, requests.Session()
        page = self.get("/admin/login/?next=/admin/")
        fields = Forms(page).forms["login-form"]["fields"]
        answer = self.session.post(
            f"{url}/admin/login/?next=/admin/", data={**fields, "username": username, "password": password}, timeout=30
        )
        assert answer.status_code == 200 and answer.url == f"{url}/admin/", answer.url

    def get(self, path: str) -> str:
        answer = self.session.get(self.url + path, timeout=60)
        assert answer.status_code == 200, (path, answer.status_code)
        return answer.text

    def submit(self, path: str, form_id: str, **changes: str) -> requests.Response:
        """Submit form `form_id` of the page at `path` with `changes`; the answer after redirects."""
        form = Forms(self.get(path)).forms[form_id]
        answer = self.session.post(self.url + (form["action"] or path), data={**form["fields"], **changes}, timeout=60)
        assert answer.status_code == 200, (form_id, answer.status_code)
        return answer


@pytest.fixture
def served(transactional_db, tmp_path):
    """`bin/serve` (what `make run` runs once Redis is up) on free ports, the test DB and
    Redis, with the README's promotion window and no LLM; yields (API, MCP, key file)."""
    serve = quickstart_section().split("<!-- quickstart: serve -->\n```sh\n", 1)[1].split("\n```", 1)[0]
    window = re.fullmatch(r"PROMOTION_DEBOUNCE_SECONDS=(\d+) make run", serve)
    assert window, f"the Quickstart starts the server with {serve!r}"
    api_port, mcp_port, key_file = free_port(), free_port(), tmp_path / "dev-api-key"
    env = child_env(
        PROMOTION_DEBOUNCE_SECONDS=window[1],
        LLM_MODEL="",
        PORT=str(api_port),
        MCP_PORT=str(mcp_port),
        WEB_WORKERS="1",
        WORKER_THREADS="2",
        DEV_API_KEY_FILE=str(key_file),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
    )
    proc = subprocess.Popen([str(BASE_DIR / "bin/serve")], cwd=BASE_DIR, env=env, start_new_session=True)
    try:
        api, mcp = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{mcp_port}"
        wait_for_http(f"{api}/v1/health", timeout=120)
        wait_for_http(f"{mcp}/mcp", timeout=60)
        yield api, mcp, key_file, int(window[1])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # bin/serve's trap stops gunicorn, the worker and MCP
        proc.wait(timeout=60)


def texts(answer: dict) -> list[str]:
    return [memory["text"] for memory in answer["memories"]]


def test_the_readme_quickstart_runs_as_written(served, tmp_path):
    api, mcp, key_file, window = served
    tour = Tour(api=api, mcp=mcp, key_file=key_file, state=tmp_path / "env")
    words = " ".join(tour.section.split())  # a label may wrap across lines
    for label in ADMIN_LABELS:
        assert label in words, label

    assert tour.json("key") == {"sessions": [], "total": 0}
    assert tour.env["KEY"] == key_file.read_text().strip()  # the key bin/serve made, as the README reads it

    tour.run("admin-user")
    assert User.objects.filter(username="admin", is_superuser=True, is_staff=True).count() == 1

    written = time.monotonic()
    session = tour.json("conversation")
    assert (session["session_id"], session["namespace"], session["user_id"], session["new_session"]) == (
        "trip-1",
        "travel",
        "alice",
        True,
    )
    assert [m["content"] for m in session["messages"]] == [USER_TURN, ASSISTANT_TURN]
    # Not searchable before promotion: the window the README sets, then found by polling.
    assert tour.json("searchable")["total"] == 0
    promoted = wait_until(
        lambda: (answer := tour.json("searchable"))["total"] and answer, timeout=60, interval=0.5, what="promotion"
    )
    assert time.monotonic() - written >= window
    assert promoted["total"] == 2
    assert sorted(texts(promoted)) == [f"assistant: {ASSISTANT_TURN}", f"user: {USER_TURN}"]
    assert {(m["session_id"], m["memory_type"], m["status"]) for m in promoted["memories"]} == {
        ("trip-1", "message", "approved")
    }

    created = tour.json("create")
    assert (created["status"], [m["outcome"] for m in created["memories"]]) == ("ok", ["created"])
    vegetarian = created["memories"][0]["id"]

    found = tour.json("search")
    assert (found["total"], found["memories"][0]["id"], texts(found)[0]) == (3, vegetarian, "Alice is vegetarian")
    assert found["memories"][0]["topics"] == ["food"] and found["memories"][0]["entities"] == ["Alice"]

    prompt = tour.json("prompt")
    messages = [(m["role"], m["content"]["text"]) for m in prompt["messages"]]
    assert [role for role, _ in messages] == ["user", "assistant", "system", "user"]
    assert messages[:2] == [("user", USER_TURN), ("assistant", ASSISTANT_TURN)] and messages[3] == ("user", QUERY)
    listed = prompt["long_term_memories"]
    assert sorted(m["text"] for m in listed) == ["Alice is vegetarian", *sorted(texts(promoted))]
    lines = "\n".join(f"- {m['text']} (ID: {m['id']})" for m in listed)
    assert messages[2][1] == f"## Long term memories related to the user's query\n {lines}"
    assert f"- Alice is vegetarian (ID: {vegetarian})" in messages[2][1]

    admin_holds_new_memories_for_review(Admin(api, username="admin", password="change-me"), tour)

    assert tour.run("mcp").splitlines() == [f"{len(TOOL_NAMES)} tools", "Alice is vegetarian"]


def admin_holds_new_memories_for_review(admin: Admin, tour: Tour) -> None:
    """Step 9: the clicks the README names, on the pages it names, then the desk."""
    desk = "/admin/memory/memoryrecord/review/"
    assert f"{README_API}{desk}" in tour.section
    assert "Nothing left to review" in admin.get(desk)  # the default policy approves everything

    assert f"{README_API}/admin/policies/policy/" in tour.section
    policy_page = link(admin.get("/admin/policies/policy/"), "default")
    page = admin.get(policy_page)
    assert "Published version" in page
    version_page = link(page, "default v1 (messages)")
    new_version = link(admin.get(version_page), "New version from this one")
    form = admin.get(new_version)
    for label in ("Review mode", "New memories wait for review", "Save as a new version"):
        assert escape(label) in form, label
    saved = admin.submit(new_version, "new-version-form", review_mode="pending")
    assert "Publish v2" in saved.text
    admin.submit(saved.url.removeprefix(admin.url), "publish-version-form")
    policy = Policy.objects.select_related("published_version").get(name="default")
    assert (policy.published_version.number, policy.published_version.review_mode) == (2, "pending")

    tour.run("review-conversation")

    def desk_with_the_memory() -> str | None:
        shown = admin.get(desk)
        return shown if escape(PASSPORT) in shown else None

    held = wait_until(
        desk_with_the_memory,
        timeout=60,
        interval=0.5,
        what="the pending memory on the desk",
    )
    assert "1 left" in held and "Approve" in held and "Review queue" in held
    record = MemoryRecord.objects.get(text=PASSPORT)
    owner = (record.status, record.namespace, record.user_id, record.session_id)
    assert owner == ("pending", "travel", "alice", "trip-2")
    assert tour.json("reviewed") == {"memories": [], "total": 0, "next_offset": None}  # pending: not searched

    decided = admin.submit(desk, "approve-form")
    assert "Nothing left to review" in decided.text and 'id="review-item"' not in decided.text
    assert MemoryRecord.objects.get(pk=record.pk).status == "approved"
    found = tour.json("reviewed")
    assert (found["total"], texts(found), found["memories"][0]["status"]) == (1, [PASSPORT], "approved")
    assert found["memories"][0]["id"] == record.id
