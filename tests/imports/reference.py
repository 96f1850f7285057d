"""agent-memory-server 0.15.2 as `make bench` runs it (benchmarks/bench_deploy.py's
REFERENCE): its API (uvicorn, one worker), its task worker and an OpenAI-compatible
embedding endpoint over our local model, on an embedded Redis of its own (search + JSON).

    .venv/bin/python -m tests.imports.reference --redis-port 6551 --port 8150 --embeddings-port 8151

starts one and waits until it answers (Ctrl-C stops it); the test fixture uses `Reference`.
"""

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from benchmarks.reference_env import reference_env
from memoryproject import localredis

BASE_DIR = Path(__file__).resolve().parent.parent.parent
PY = str(BASE_DIR / ".venv" / "bin" / "python")
REF_BIN = BASE_DIR / "var" / "reference-venv" / "bin"
TOKENIZERS = "lib/python3*/site-packages/litellm/litellm_core_utils/tokenizers"


class ReferenceMissing(RuntimeError):
    pass


class Reference:
    def __init__(self, *, redis_port: int, port: int, embeddings_port: int, data_dir: Path):
        self.redis_port, self.port, self.embeddings_port = redis_port, port, embeddings_port
        self.data_dir = data_dir
        self.url = f"http://127.0.0.1:{port}"
        self.redis_url = f"redis://127.0.0.1:{redis_port}/0"
        self.log = data_dir / "reference.log"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.view_id = ""  # the loaded summary view's (tests.imports.reference_data.load)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
        return {
            **env,
            "REDIS_URL": self.redis_url,
            "PYTHONUNBUFFERED": "1",
            **reference_env(embeddings_port=self.embeddings_port, api_key="test-no-key"),
            # Its token counting loads cl100k_base, which tiktoken would download: LiteLLM ships the file.
            "TIKTOKEN_CACHE_DIR": str(next(REF_BIN.parent.glob(TOKENIZERS), "")),
        }

    def start(self) -> None:
        if not (REF_BIN / "agent-memory").exists():
            raise ReferenceMissing(
                f"{REF_BIN / 'agent-memory'} is missing: install the reference with benchmarks/install_reference.sh"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.data_dir / "redis", ignore_errors=True)  # a fresh deployment
        localredis.start(port=self.redis_port, data_dir=self.data_dir / "redis")
        env = self.env()
        embeddings_env = {k: v for k, v in env.items() if k not in ("EMBEDDING_MODEL", "REDIS_URL")}
        commands = [
            (embeddings_env, [PY, "benchmarks/embedding_server.py", "--port", str(self.embeddings_port)]),
            (
                env,
                [
                    str(REF_BIN / "uvicorn"),
                    "reference_app:app",
                    "--app-dir",
                    "benchmarks",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "warning",
                ],
            ),
            (env, [str(REF_BIN / "agent-memory"), "task-worker", "--concurrency", "4"]),
        ]
        with open(self.log, "ab") as log:
            for command_env, command in commands:
                self.procs.append(
                    subprocess.Popen(
                        command, env=command_env, cwd=BASE_DIR, stdout=log, stderr=log, start_new_session=True
                    )
                )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                break
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/v1/health", timeout=2).status_code == 200 and self._embeddings_up():
                    return
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the reference did not start (log: {self.log})")

    def _embeddings_up(self) -> bool:
        with contextlib.suppress(requests.RequestException):
            reply = requests.post(
                f"http://127.0.0.1:{self.embeddings_port}/v1/embeddings", json={"input": "x"}, timeout=5
            )
            return reply.status_code == 200
        return False

    def stop(self) -> None:
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs = []
        localredis.stop(port=self.redis_port)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-port", type=int, default=6551)
    parser.add_argument("--port", type=int, default=8150)
    parser.add_argument("--embeddings-port", type=int, default=8151)
    parser.add_argument("--dir", type=Path, default=BASE_DIR / "var" / "reference-import")
    args = parser.parse_args()
    reference = Reference(
        redis_port=args.redis_port, port=args.port, embeddings_port=args.embeddings_port, data_dir=args.dir
    )
    reference.start()
    # Blocked so that sigwait receives them (else SIGTERM would end this process and leave the
    # others running); only now, as children inherit a blocked signal and would ignore it.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    print(f"reference at {reference.url}, Redis {reference.redis_url}", flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        reference.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
