"""Schema fuzzing (`make fuzz`): schemathesis against the OpenAPI schema a real
deployment serves, every operation, a fixed seed and a bounded number of examples."""

import json
import os
import subprocess

import pytest
import requests

from tests.helpers import BASE_DIR

pytestmark = [pytest.mark.multiprocess, pytest.mark.fuzz]

SEED = int(os.environ.get("FUZZ_SEED", "1"))
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "client_errors_are_json_naming_the_problem",  # tests/reliability/fuzz_checks.py
    ]
)


def test_no_operation_answers_5xx_or_off_its_schema(deployment_with, tmp_path):
    # Rate limits off the way: the fuzzer sends far more than an agent would.
    deployment = deployment_with(RATE_LIMIT_WRITES="1000000/min", RATE_LIMIT_SEARCHES="1000000/min")
    schema = requests.get(f"{deployment.url}/openapi.json", timeout=10).json()
    operations = sum(len(methods) for methods in schema["paths"].values())
    report = tmp_path / "report.json"
    completed = subprocess.run(
        [
            str(BASE_DIR / ".venv/bin/schemathesis"),
            "run",
            f"{deployment.url}/openapi.json",
            "--checks",
            CHECKS,
            "--seed",
            str(SEED),
            "--max-examples",
            str(MAX_EXAMPLES),
            "--header",
            f"Authorization: Bearer {deployment.api_key}",
            # One worker: with two threads, Hypothesis parsed lambda sources concurrently when
            # both first drew free-form JSON (the schema's "at least one of" rules) and CPython
            # 3.11's parser failed ("AST constructor recursion depth mismatch"), a runtime error.
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--report",
            "json",
            "--report-json-path",
            str(report),
            "--no-color",
        ],
        cwd=tmp_path,  # schemathesis keeps its cache (.schemathesis/) in the working directory
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.reliability.fuzz_checks", "PYTHONPATH": str(BASE_DIR)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = completed.stdout
    failures = output.find("=== FAILURES ===")
    print(output[failures - 200 :] if failures >= 0 else output[-3000:])  # failures and the summary
    print(
        f"fuzz: {operations} operations, seed {SEED}, at most {MAX_EXAMPLES} examples each, exit {completed.returncode}"
    )
    assert completed.returncode == 0, "schemathesis found failures (printed above)\n" + completed.stderr[-2000:]
    verdict = json.loads(report.read_text())
    for label, phases in sorted(verdict["valid_rates"].items()):
        print(f"accepted {label}: {_acceptance(phases)}")
    # The schema declares every constraint the validation enforces (issue 21), so no
    # operation answers its generated requests mostly with 422s.
    assert verdict["warnings"]["validation_mismatch"] == []
    assert verdict["warnings"]["unsupported_regex"] == []


def _acceptance(phases: dict) -> str:
    """Valid requests (schemathesis' positive cases) the operation accepted, by phase:
    the rest were refused (422), not found or a conflict."""
    said = []
    for phase, counts in sorted(phases.items()):
        total = sum(counts.values())
        said.append(f"{phase} {counts['accepted']}/{total} ({counts['rejected']} refused)")
    return ", ".join(said)
