"""The reference (agent-memory-server 0.15.2, as `make bench` installs it) on its own
embedded Redis, loaded once per module through its own API. Missing, the tests fail:
`make test-import` installs it first (benchmarks/install_reference.sh)."""

import pytest

from tests.helpers import free_port
from tests.imports.reference import Reference, ReferenceMissing
from tests.imports.reference_data import load


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The running reference with the data set of tests/imports/reference_data.py, and its summary view's id."""
    started = Reference(
        redis_port=free_port(),
        port=free_port(),
        embeddings_port=free_port(),
        data_dir=tmp_path_factory.mktemp("reference"),
    )
    try:
        started.start()
    except ReferenceMissing as exc:
        pytest.fail(f"{exc} (make test-import installs it)")
    try:
        started.view_id = load(started.url)
        yield started
    finally:
        started.stop()
