"""What every benchmark script reports the same way: the machine and latency percentiles."""

import os
import platform
import statistics
from pathlib import Path

DEV_KEY_FILE = Path(__file__).resolve().parent.parent / "var" / "dev-api-key"


def machine() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "")
    except OSError:
        pass
    return (
        f"{platform.machine()}, {os.cpu_count()} cores {model}, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )


def percentiles(values: list[float]) -> tuple[float, float, float]:
    """(p50, p95, p99), in the unit of `values`."""
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[49], q[94], q[98]


def auth_headers() -> dict[str, str]:
    """The bearer header for the server under test: MEMORY_API_KEY, else the key `make run`
    wrote to var/dev-api-key; none when neither is there (a server with AUTH_MODE=disabled)."""
    key = os.environ.get("MEMORY_API_KEY") or (DEV_KEY_FILE.read_text().strip() if DEV_KEY_FILE.exists() else "")
    return {"Authorization": f"Bearer {key}"} if key else {}
