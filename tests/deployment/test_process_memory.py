"""What a served process has loaded: the API embeds with ONNX Runtime and never imports
torch (an API process that had imported it held about 800 MB more, issue 24)."""

from pathlib import Path

import pytest
import requests

from tests.helpers import wait_until


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _maps(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.multiprocess
def test_gunicorn_workers_embed_with_onnx_runtime_and_never_map_torch(deployment):
    response = requests.post(
        f"{deployment.url}/v1/long-term-memory/search",
        json={"text": "where does bob sit on planes"},
        headers=deployment.headers,
        timeout=60,
    )
    assert response.status_code == 200, response.text
    workers = _children(deployment.web.pid)
    assert len(workers) == 2
    # Each worker loads the model as it starts (memoryproject.wsgi) and one has just searched.
    for pid in workers:
        wait_until(lambda pid=pid: "libonnxruntime" in _maps(pid), timeout=60, what=f"worker {pid} to load the model")
    assert [pid for pid in workers if "libtorch" in _maps(pid)] == []
