"""Hostile inputs against a running deployment (issue 20): each one's answer and the
server's time for it, beside the same operation with an ordinary input.

It starts `make run`'s API and worker (gunicorn 2 x 8 threads + one Dramatiq worker) on a
fresh embedded Redis and SQLite, like `make bench`, then sends each input REPEAT times and
reports the status, the median and worst latency, and the server's CPU per request
(every server process, from /proc). Every hostile input must be answered within a small
multiple of its ordinary counterpart, or refused with a clear 4xx.

    .venv/bin/python benchmarks/adversarial.py [--repeat 3] [--json var/bench/adversarial.json]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid

import requests
from bench_deploy import OURS, PY, VAR, Deployment
from benchlib import machine

BASE_DIR = VAR.parent.parent
SPEC = {
    **OURS,
    "label": "this server (adversarial)",
    "redis_port": 6522,
    "port": 8023,
    "env": {**OURS["env"], "DATABASE_URL": f"sqlite:///{VAR / 'ours.sqlite3'}"},
    "processes": [[part.replace(":8021", ":8023") for part in command] for command in OURS["processes"]],
}
ADMIN = ("adversary-admin", "adversary-password-1")
LONG_TEXT = 99_000  # a long-term record's text must stay under 100,000 characters
EXPIRED_SESSIONS = 3000


def repeated(phrase: str, chars: int, tail: str) -> str:
    return (phrase * (chars // len(phrase)))[: chars - len(tail) - 1] + " " + tail


class Probe:
    """Times one kind of request against the deployment, CPU of its processes included."""

    def __init__(self, deployment: Deployment, repeat: int):
        self.deployment, self.repeat = deployment, repeat
        self.http = requests.Session()
        self.rows: list[dict] = []

    def measure(self, name: str, kind: str, send) -> None:
        """`send(i)` makes the i-th request and returns the response."""
        seconds, statuses = [], []
        cpu = self.deployment.server_cpu()
        for i in range(self.repeat):
            started = time.perf_counter()
            response = send(i)
            seconds.append(time.perf_counter() - started)
            statuses.append(response.status_code)
        cpu_ms = 1000 * (self.deployment.server_cpu() - cpu) / self.repeat
        row = {
            "input": name,
            "kind": kind,
            "status": sorted(set(statuses)),
            "median_ms": round(1000 * statistics.median(seconds), 1),
            "max_ms": round(1000 * max(seconds), 1),
            "server_cpu_ms": round(cpu_ms, 1),
            "answer": response.text[:160] if response.status_code >= 400 else "",
        }
        self.rows.append(row)
        print(f"   {kind:8} {name}: {row}", flush=True)

    def post(self, path: str, body: dict, **kw):
        return self.http.post(f"{self.deployment.base}{path}", json=body, timeout=300, **kw)


def create_pair(probe: Probe, a: str, b: str, i: int, tag: str):
    """The first text, then the second with `deduplicate: true` (the timed request)."""
    ns = f"adv-{tag}-{i}-{uuid.uuid4().hex[:6]}"
    probe.post("/v1/long-term-memory/", {"memories": [{"text": a, "namespace": ns, "user_id": "u"}]})
    return probe.post(
        "/v1/long-term-memory/", {"memories": [{"text": b, "namespace": ns, "user_id": "u"}], "deduplicate": True}
    )


def dedup_inputs(probe: Probe) -> None:
    probe.measure(
        "a pair of short texts, the second with deduplicate (2 creates)",
        "normal",
        lambda i: create_pair(probe, "Ana lives in Lisbon.", "Ana lives in Porto.", i, "n"),
    )
    probe.measure(
        f"one {LONG_TEXT:,}-char text (1 create)",
        "normal",
        lambda i: probe.post(
            "/v1/long-term-memory/",
            {"memories": [{"text": repeated("plain ", LONG_TEXT, f"n{i}"), "namespace": "adv-long", "user_id": "u"}]},
        ),
    )
    for label, phrase in (("not ", "not "), ("In May ", "In May "), ("a hundred ", "a hundred ")):
        probe.measure(
            f"a pair of {LONG_TEXT:,}-char texts repeating '{label.strip()}', the second with deduplicate (2 creates)",
            "hostile",
            lambda i, p=phrase: create_pair(
                probe, repeated(p, LONG_TEXT, "Alpha"), repeated(p, LONG_TEXT, "Beta"), i, "h"
            ),
        )


def search_inputs(probe: Probe) -> None:
    ns = f"adv-search-{uuid.uuid4().hex[:6]}"
    words = " ".join(f"term{t:02d}" for t in range(32))
    records = [{"text": f"{words} record {r}", "namespace": ns, "user_id": "u"} for r in range(100)]
    records += [
        {"text": repeated(f"{words} ", LONG_TEXT, f"long {r}"), "namespace": ns, "user_id": "u"} for r in range(20)
    ]
    probe.post("/v1/long-term-memory/", {"memories": records, "deduplicate": False}).raise_for_status()
    listing = {"text": "", "namespace": {"eq": ns}, "limit": 1}
    while probe.post("/v1/long-term-memory/search", listing).json().get("total") != len(records):
        time.sleep(0.2)  # indexed on commit: every record searchable before the first timing
    for mode in ("keyword", "hybrid"):
        base = {"search_mode": mode, "namespace": {"eq": ns}}
        probe.measure(
            f"{mode} search, 3 terms, limit 10",
            "normal",
            lambda i, b=base: probe.post(
                "/v1/long-term-memory/search", {**b, "text": f"term01 term02 term{i:02d}", "limit": 10}
            ),
        )
        probe.measure(
            f"{mode} search, 32 terms matching every record, offset 9990",
            "hostile",
            lambda i, b=base: probe.post(
                "/v1/long-term-memory/search", {**b, "text": words, "offset": 9990, "limit": 10}
            ),
        )
        probe.measure(
            f"{mode} search, 32 terms matching every record, deepest page allowed",
            "hostile",
            lambda i, b=base: probe.post(
                "/v1/long-term-memory/search", {**b, "text": words, "offset": 990, "limit": 10}
            ),
        )


def working_memory_inputs(probe: Probe) -> None:
    base = probe.deployment.base

    def put(i, memory_text="a fact", memory_id=None):
        body = {
            "namespace": "adv-wm",
            "messages": [{"id": "m0", "role": "user", "content": "hello"}],
            "memories": [{"id": memory_id or f"mem-{i}", "text": memory_text}],
        }
        return probe.http.put(f"{base}/v1/working-memory/adv-{uuid.uuid4().hex[:8]}", json=body, timeout=60)

    probe.measure("working-memory PUT, one memory", "normal", put)
    probe.measure("working-memory PUT, a 1 MB memory text", "hostile", lambda i: put(i, "x" * 1_000_000))
    probe.measure("working-memory PUT, a newline in a memory id", "hostile", lambda i: put(i, memory_id="a\nb"))
    probe.measure(
        "working-memory PUT, a TTL of ten years",
        "hostile",
        lambda i: probe.http.put(
            f"{base}/v1/working-memory/adv-ttl-{i}",
            json={
                "namespace": "adv-wm",
                "ttl_seconds": 315_360_000,
                "messages": [{"id": "m0", "role": "user", "content": "hi"}],
            },
            timeout=60,
        ),
    )
    probe.measure(
        "session listing",
        "normal",
        lambda i: probe.http.get(f"{base}/v1/working-memory/?namespace=adv-wm&limit=10", timeout=60),
    )
    expiring = {
        "namespace": "adv-expired",
        "ttl_seconds": 1,
        "messages": [{"id": "m0", "role": "user", "content": "hi"}],
    }
    for n in range(EXPIRED_SESSIONS):
        probe.http.put(f"{base}/v1/working-memory/exp-{n}", json=expiring, timeout=60).raise_for_status()
    time.sleep(1.5)  # every one of them past its TTL (1 s)
    probe.measure(
        f"session listing with {EXPIRED_SESSIONS:,} expired sessions to prune",
        "hostile",
        lambda i: probe.http.get(f"{base}/v1/working-memory/?namespace=adv-expired&limit=10", timeout=60),
    )


def admin_login(probe: Probe) -> requests.Session:
    env = {**probe.deployment.env, "DJANGO_SUPERUSER_PASSWORD": ADMIN[1]}
    subprocess.run(
        [PY, "manage.py", "createsuperuser", "--noinput", "--username", ADMIN[0], "--email", "a@example.com"],
        env=env,
        cwd=BASE_DIR,
        check=True,
        capture_output=True,
    )
    admin = requests.Session()
    login = f"{probe.deployment.base}/admin/login/"
    admin.get(login, timeout=30)
    admin.post(
        login,
        data={
            "username": ADMIN[0],
            "password": ADMIN[1],
            "csrfmiddlewaretoken": admin.cookies["csrftoken"],
            "next": "/admin/",
        },
        headers={"Referer": login},
        timeout=30,
    ).raise_for_status()
    return admin


def history_inputs(probe: Probe) -> None:
    """A record's page with its history: a short record, then one of ~16,000 words edited
    ten times (each entry diffs the whole text)."""
    admin = admin_login(probe)
    ns = f"adv-history-{uuid.uuid4().hex[:6]}"
    ids = {}
    for kind, words in (("normal", 12), ("hostile", 16_000)):
        versions = [" ".join(f"w{(v * 7 + k) % 997}" for k in range(words)) for v in range(11)]
        memory_id = f"adv-{kind}-{uuid.uuid4().hex[:6]}"
        body = {"memories": [{"id": memory_id, "text": versions[0][:LONG_TEXT], "namespace": ns, "user_id": "u"}]}
        probe.post("/v1/long-term-memory/", body).raise_for_status()
        for text in versions[1:]:
            probe.http.patch(
                f"{probe.deployment.base}/v1/long-term-memory/{memory_id}", json={"text": text[:LONG_TEXT]}, timeout=60
            ).raise_for_status()
        ids[kind] = memory_id
    for kind, label in (("normal", "a 12-word record"), ("hostile", "a 16,000-word record")):
        url = f"{probe.deployment.base}/admin/memory/memoryrecord/{ids[kind]}/change/"
        probe.measure(f"admin record page with 10 edits of {label}", kind, lambda i, u=url: admin.get(u, timeout=300))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", default=str(VAR / "adversarial.json"))
    args = parser.parse_args()
    print(f"adversarial inputs; {machine()}", flush=True)
    deployment = Deployment(SPEC, records=0)
    if not deployment.start():
        sys.exit(f"the deployment did not start: {deployment.error}")
    try:
        probe = Probe(deployment, args.repeat)
        for group in (dedup_inputs, search_inputs, working_memory_inputs, history_inputs):
            print(f"-- {group.__name__}", flush=True)
            group(probe)
    finally:
        deployment.stop()
    print("\n| input | kind | status | median ms | max ms | server CPU ms/req |")
    print("|---|---|---|---|---|---|")
    for row in probe.rows:
        cells = [row["input"], row["kind"], "/".join(map(str, row["status"]))]
        cells += [row["median_ms"], row["max_ms"], row["server_cpu_ms"]]
        print("| " + " | ".join(map(str, cells)) + " |")
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as out:
        json.dump({"machine": machine(), "repeat": args.repeat, "rows": probe.rows}, out, indent=1)


if __name__ == "__main__":
    main()
