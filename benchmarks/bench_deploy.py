"""The two deployments `make bench` runs, each on a fresh embedded Redis, and the CPU of
their processes read from /proc."""

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import redis
import requests
from reference_env import reference_env

BASE_DIR = Path(__file__).resolve().parent.parent
VAR = BASE_DIR / "var" / "bench"
PY = str(BASE_DIR / ".venv" / "bin" / "python")
REF_BIN = BASE_DIR / "var" / "reference-venv" / "bin"
WEB_WORKERS = os.environ.get("WEB_WORKERS", "2")
WEB_THREADS = os.environ.get("WEB_THREADS", "8")

OURS = {
    "label": "this server",
    "redis_port": 6520,
    "port": 8021,
    "env": {
        "DATABASE_URL": f"sqlite:///{VAR / 'ours.sqlite3'}",
        "AUTH_MODE": "disabled",
    },
    "setup": [[PY, "manage.py", "migrate", "--noinput", "-v0"], [PY, "manage.py", "seed_defaults"]],
    "processes": [
        # bin/serve's API and worker, without the MCP server the benchmark does not use.
        [
            str(BASE_DIR / ".venv" / "bin" / "gunicorn"),
            "memoryproject.wsgi:application",
            "--config",
            "memoryproject/gunicorn_conf.py",
            "--bind",
            "127.0.0.1:8021",
            "--workers",
            WEB_WORKERS,
            "--threads",
            WEB_THREADS,
            "--log-level",
            "warning",
        ],
        [PY, "manage.py", "rundramatiq", "--processes", "1", "--threads", "4"],
    ],
}

_REF_EMBEDDINGS_PORT = 8098
REFERENCE = {
    "label": "agent-memory-server 0.15.2",
    "redis_port": 6521,
    "port": 8022,
    "env": reference_env(embeddings_port=_REF_EMBEDDINGS_PORT, api_key="bench-no-key"),
    "setup": [],
    "processes": [
        # Our settings would read the reference's EMBEDDING_MODEL: the local model it is.
        ["env", "-u", "EMBEDDING_MODEL", PY, "benchmarks/embedding_server.py", "--port", str(_REF_EMBEDDINGS_PORT)],
        # uvicorn[standard] (httptools, uvloop): plain uvicorn with --workers adds ~40 ms per keep-alive request.
        [
            str(REF_BIN / "uvicorn"),
            "reference_app:app",
            "--app-dir",
            "benchmarks",
            "--host",
            "127.0.0.1",
            "--port",
            "8022",
            "--workers",
            "2",
            "--log-level",
            "warning",
        ],
        [str(REF_BIN / "agent-memory"), "task-worker", "--concurrency", "10"],
    ],
    "needs": REF_BIN / "agent-memory",
    "start_attempts": 3,
}


def _pgroup_cpu(groups: set[int]) -> float:
    """CPU seconds (user + system, with reaped children) of every process in `groups`."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in groups:  # fields[0] is the state: pgrp is the 5th field of stat
            total += sum(int(f) for f in fields[11:15])
    return total / tick


def _status_mb(pid: int) -> dict[str, float]:
    """VmRSS (resident now) and VmHWM (the peak) of `pid`, in MB; empty once it has gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    return {key: round(int(fields[key].split()[0]) / 1024, 1) for key in ("VmRSS", "VmHWM") if key in fields}


def _label(command: list[str], *, parent: bool) -> str:
    """A short name for one process of a deployment: the program its command runs (the
    script or management command for a Python one), and whether it is the one started
    (gunicorn's master, uvicorn's supervisor, Dramatiq's) or a child it forked."""
    words = [w for w in command if not w.startswith("-") and w not in ("env", "EMBEDDING_MODEL", PY)]
    name = Path(words[0]).name
    if name in ("manage.py", "agent-memory") and len(words) > 1:  # the subcommand says more
        name = words[1]
    return f"{name} {'parent' if parent else 'child'}"


def _redis_pid(port: int) -> int | None:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if b"redis-server" in cmdline and f":{port}".encode() in cmdline:
                return int(entry)
    return None


class Deployment:
    def __init__(self, spec: dict, *, records: int):
        self.spec = spec
        self.base = f"http://127.0.0.1:{spec['port']}"
        self.redis_url = f"redis://127.0.0.1:{spec['redis_port']}/0"
        self.env = {**os.environ, **spec["env"], "REDIS_URL": self.redis_url, "PYTHONUNBUFFERED": "1"}
        self.procs: list[subprocess.Popen] = []
        self.error = ""
        self.commands = [" ".join(c) for c in spec["setup"] + spec["processes"]]
        self.log = VAR / f"{spec['redis_port']}.log"

    def _redis(self, action: str) -> None:
        data_dir = VAR / f"redis-{self.spec['redis_port']}"
        port = self.spec["redis_port"]
        if action == "stop":
            # A throwaway Redis: no final save (its data directory may be gone already).
            with contextlib.suppress(redis.RedisError):
                redis.Redis(port=port).shutdown(nosave=True)
            for _ in range(50):  # until the port is free again
                if _redis_pid(port) is None:
                    break
                time.sleep(0.1)
            return
        self._redis("stop")
        shutil.rmtree(data_dir, ignore_errors=True)
        subprocess.run(
            [PY, "-m", "memoryproject.localredis", "start", "--port", str(port), "--dir", str(data_dir)],
            check=True,
            capture_output=True,
            cwd=BASE_DIR,
        )

    def start(self) -> bool:
        needs = self.spec.get("needs")
        if needs is not None and not Path(needs).exists():
            self.error = f"{needs} is missing: the reference is not installed (BENCHMARKS.md, make bench)"
            return False
        VAR.mkdir(parents=True, exist_ok=True)
        (VAR / "ours.sqlite3").unlink(missing_ok=True)
        self._redis("start")
        for command in self.spec["setup"]:
            subprocess.run(command, env=self.env, check=True, cwd=BASE_DIR, stdout=subprocess.DEVNULL)
        for attempt in range(self.spec.get("start_attempts", 1)):
            if self._start_processes():
                return True
            # The reference's API workers race to create their indexes on a fresh Redis; one may die.
            self._stop_processes()
            print(f"   start attempt {attempt + 1} failed; retrying", flush=True)
        self.error = f"did not answer GET /v1/health in time (log: {self.log})"
        return False

    def _start_processes(self) -> bool:
        with open(self.log, "ab") as log:
            for command in self.spec["processes"]:
                self.procs.append(
                    subprocess.Popen(
                        command, env=self.env, cwd=BASE_DIR, stdout=log, stderr=log, start_new_session=True
                    )
                )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                return False
            try:
                if requests.get(f"{self.base}/v1/health", timeout=2).status_code == 200:
                    time.sleep(3)  # every worker up, not just the first
                    return all(p.poll() is None for p in self.procs)
            except requests.RequestException:
                pass
            time.sleep(0.5)
        return False

    def process_summary(self) -> list[str]:
        return [f"{c} (pid {p.pid})" for c, p in zip(self.spec["processes"], self.procs, strict=True)]

    def process_memory(self) -> list[dict]:
        """{pid, process, rss_mb, hwm_mb} for every process of the deployment (each started
        command's and its children's, found by process group) and its Redis."""
        groups = {p.pid: command for command, p in zip(self.spec["processes"], self.procs, strict=True)}
        rows = []
        for entry in sorted(os.listdir("/proc"), key=lambda e: int(e) if e.isdigit() else 0):
            if not entry.isdigit():
                continue
            try:
                pgrp = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[2])
            except (OSError, IndexError, ValueError):
                continue
            if pgrp in groups and (memory := _status_mb(int(entry))):
                label = _label(groups[pgrp], parent=int(entry) == pgrp)
                rows.append(
                    {"pid": int(entry), "process": label, "rss_mb": memory.get("VmRSS"), "hwm_mb": memory.get("VmHWM")}
                )
        pid = _redis_pid(self.spec["redis_port"])
        if pid and (memory := _status_mb(pid)):
            rows.append(
                {"pid": pid, "process": "redis-server", "rss_mb": memory.get("VmRSS"), "hwm_mb": memory.get("VmHWM")}
            )
        return rows

    def server_cpu(self) -> float:
        return _pgroup_cpu({p.pid for p in self.procs})

    def redis_cpu(self) -> float:
        pid = _redis_pid(self.spec["redis_port"])
        return _pgroup_cpu({os.getpgid(pid)}) if pid else 0.0

    def _stop_processes(self) -> None:
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        self.procs = []

    def stop(self) -> None:
        self._stop_processes()
        self._redis("stop")
