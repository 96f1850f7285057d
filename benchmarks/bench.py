"""`make bench`: this server and the reference (agent-memory-server 0.15.2) side by side.

Each server runs as a real multi-process deployment on its own fresh embedded Redis (the
same build), one after the other, under the same load: N records (default 10,000) over
HTTP in batches of 100 until all are searchable, then at concurrency 16 working-memory
PUT and GET, GET /v1/health, and semantic, keyword and hybrid search filtered by user and
namespace with limit 10. Search figures are cache-cold (every text new); a warm
semantic cell (5 repeated texts) is reported beside them, labelled. Server CPU per
request is the CPU time of every server process (API workers, task worker, their
embedding server) over the cell, from /proc, divided by its requests; the load
generator's own CPU is reported too, since on 2 cores it competes with the servers.
Each server process's resident memory (VmRSS, VmHWM from /proc) is read after the load
and after all cells, and printed in a second table.

The reference needs a Python 3.12 virtualenv at var/reference-venv (see BENCHMARKS.md;
`make bench` builds it when missing). Without it the benchmark says so and runs ours.

    .venv/bin/python benchmarks/bench.py [--records 10000] [--requests 400] [--json var/bench/bench.json]
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests
from bench_cells import CELLS, run_cells
from bench_deploy import OURS, REFERENCE, Deployment
from benchlib import machine

BASE_DIR = Path(__file__).resolve().parent.parent


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench_one(spec: dict, args) -> dict:
    deployment = Deployment(spec, records=args.records)
    try:
        started = deployment.start()
        if not started:
            return {"label": spec["label"], "error": deployment.error, "commands": deployment.commands}
        http = requests.Session()
        return {
            "label": spec["label"],
            "commands": deployment.commands,
            "processes": deployment.process_summary(),
            **run_cells(deployment, http, records=args.records, requests_per_cell=args.requests, self_cpu=_self_cpu),
        }
    finally:
        deployment.stop()


def print_memory(results: dict) -> None:
    """Resident memory (VmRSS, and VmHWM, its peak) of each server process, in MB."""
    print("\n| server | process (pid) | RSS after the load, MB | RSS after all cells (peak), MB |")
    print("|---|---|---|---|")
    for key in ("reference", "ours"):
        memory = (results.get(key) or {}).get("memory") or {}
        after_load = {row["pid"]: row for row in memory.get("after the load", [])}
        for row in memory.get("after all cells", []):
            loaded = after_load.get(row["pid"], {}).get("rss_mb", "-")
            print(
                f"| {results[key]['label']} | {row['process']} ({row['pid']}) | {loaded} | "
                f"{row['rss_mb']} ({row['hwm_mb']}) |"
            )


def _ratio(ours, ref, *, lower_is_better=False):
    if not ours or not ref:
        return "-"
    return f"{(ref / ours if lower_is_better else ours / ref):.2f}x"


def print_table(results: dict) -> None:
    ours, ref = results["ours"], results.get("reference") or {}
    print(
        "\n| operation (concurrency 16) | reference req/s (p95, p99 ms) | ours req/s (p95, p99 ms) | ours / ref "
        "| server CPU ms/req, ref -> ours | load generator CPU ms/req (ours) |"
    )
    print("|---|---|---|---|---|---|")
    for name in CELLS:
        o, r = ours.get("cells", {}).get(name), ref.get("cells", {}).get(name)

        def cell(c):
            return f"{c['rps']:.0f} ({c['p95']:.0f}, {c['p99']:.0f})" if c else "-"

        cpu = (
            f"{r['server_cpu_ms']:.1f} -> {o['server_cpu_ms']:.1f}"
            if o and r
            else (f"- -> {o['server_cpu_ms']:.1f}" if o else "-")
        )
        print(
            f"| {name} | {cell(r)} | {cell(o)} | {_ratio(o and o['rps'], r and r['rps'])} | {cpu} | "
            f"{o['client_cpu_ms']:.1f} |"
            if o
            else f"| {name} | {cell(r)} | - | - | - | - |"
        )
    lo, lr = ours.get("load", {}), ref.get("load", {})
    time_ratio = _ratio(lo.get("searchable_s"), lr.get("searchable_s"), lower_is_better=True)
    print(
        f"| {args_records} records loaded until searchable (s) | {lr.get('searchable_s', '-')} | "
        f"{lo.get('searchable_s', '-')} | {time_ratio} (time) | | |"
    )
    if ref.get("error"):
        print(f"\nreference not measured: {ref['error']}")


args_records = 0


def main() -> None:
    global args_records
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=400, help="requests per measured cell")
    parser.add_argument("--json", default=str(BASE_DIR / "var" / "bench" / "bench.json"))
    parser.add_argument("--only", choices=["ours", "reference"], default=None)
    args = parser.parse_args()
    args_records = args.records
    results = {
        "run": uuid.uuid4().hex[:8],
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "kernel": platform.release(),
        "git": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=BASE_DIR
        ).stdout.strip(),
        "command": " ".join([sys.executable, *sys.argv]),
        "records": args.records,
        "requests_per_cell": args.requests,
    }
    print(f"make bench, run {results['run']}: {results['machine']}", flush=True)
    for key, spec in (("reference", REFERENCE), ("ours", OURS)):
        if args.only and args.only != key:
            continue
        print(f"\n== {spec['label']}", flush=True)
        results[key] = bench_one(spec, args)
        if results[key].get("error"):
            print(f"   not measured: {results[key]['error']}", flush=True)
    results.setdefault("ours", {})
    print_table(results)
    print_memory(results)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2))
    print(f"\nfigures written to {args.json}")


if __name__ == "__main__":
    os.chdir(BASE_DIR)
    main()
