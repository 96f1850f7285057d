"""Fixtures of the fault scenarios: deployments sized per scenario."""

import pytest

from tests.helpers import Deployment, child_env


@pytest.fixture
def start_deployment(transactional_db):
    """`start_deployment(worker_threads=4, KEY="v")`: gunicorn + a worker on the test DB,
    with extra environment; every one started is stopped at the end."""
    started = []

    def start(*, worker_threads: int = 2, **env: str) -> Deployment:
        started.append(Deployment(child_env(**env), worker_threads=worker_threads))
        return started[-1]

    yield start
    for deployment in started:
        deployment.stop()
