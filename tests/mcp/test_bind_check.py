"""With AUTH_MODE=disabled, `manage.py mcp` refuses to serve its network transports on
anything but loopback (memoryproject.bind_check; gunicorn's side and the check itself:
tests/deployment/test_bind_check.py)."""

import pytest

from tests.helpers import OPEN_BIND_REFUSED, PYTHON, free_port, nothing_listens, refused_start


@pytest.mark.multiprocess
@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_the_mcp_server_refuses_auth_disabled_on_all_interfaces(transport):
    port = free_port()
    done = refused_start(
        [PYTHON, "manage.py", "mcp", "--transport", transport, "--host", "0.0.0.0", "--port", str(port)]
    )
    refused = OPEN_BIND_REFUSED.format(server="the MCP server", address=f"0.0.0.0:{port}")
    assert f"CommandError: {refused}" in done.stderr
    assert nothing_listens(port)  # the process has exited: nothing was served
