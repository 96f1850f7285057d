"""`manage.py preflight`: what `make run` runs before serving."""

import subprocess

import pytest

from tests.helpers import BASE_DIR, PYTHON, child_env, free_port


@pytest.mark.parametrize("problem", ["unreachable", "no-modules"])
@pytest.mark.django_db
def test_preflight_prints_one_clear_line_not_a_traceback(problem, plain_redis):
    url = f"redis://127.0.0.1:{free_port()}/0" if problem == "unreachable" else plain_redis
    result = subprocess.run(
        [PYTHON, "manage.py", "preflight"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        env=child_env(REDIS_URL=url),
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: redis")
    assert "Traceback" not in result.stderr
