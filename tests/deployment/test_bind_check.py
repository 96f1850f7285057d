"""AUTH_MODE=disabled serves only on loopback, checked on the sockets actually bound
(memoryproject.bind_check): gunicorn (its when_ready hook, memoryproject/gunicorn_conf.py)
and `manage.py mcp` (tests/mcp/test_bind_check.py) refuse to serve on any other address,
whatever the environment says. bin/serve's gunicorn and MCP server on loopback with auth
disabled serve as before (tests/mcp/test_http.py)."""

import socket

import pytest
from django.core.exceptions import ImproperlyConfigured

from memoryproject.bind_check import refuse_open_bind
from tests.helpers import BASE_DIR, OPEN_BIND_REFUSED, free_port, nothing_listens, refused_start

IPV6 = socket.has_ipv6


def _bound(family: int, host: str) -> socket.socket:
    sock = socket.socket(family)
    sock.bind((host, 0))
    return sock


@pytest.mark.parametrize(
    "family, host, refused",
    [
        (socket.AF_INET, "0.0.0.0", True),
        (socket.AF_INET, "127.0.0.1", False),
        (socket.AF_INET, "127.0.0.2", False),
        pytest.param(socket.AF_INET6, "::", True, marks=pytest.mark.skipif(not IPV6, reason="no IPv6")),
        pytest.param(socket.AF_INET6, "::1", False, marks=pytest.mark.skipif(not IPV6, reason="no IPv6")),
    ],
)
def test_a_bound_socket_is_refused_unless_loopback(settings, family, host, refused):
    settings.AUTH_MODE = "disabled"
    with _bound(family, host) as sock:
        address = sock.getsockname()
        if refused:
            with pytest.raises(ImproperlyConfigured) as raised:
                refuse_open_bind([address], server="test")
            shown = f"[{address[0]}]:{address[1]}" if family == socket.AF_INET6 else f"{address[0]}:{address[1]}"
            assert str(raised.value).startswith(OPEN_BIND_REFUSED.format(server="test", address=shown))
        else:
            refuse_open_bind([address], server="test")
        settings.AUTH_MODE = "required"
        refuse_open_bind([address], server="test")  # with credentials required, any address serves


def test_a_unix_socket_and_a_host_name_resolving_to_loopback_are_loopback(settings, tmp_path):
    settings.AUTH_MODE = "disabled"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "api.sock"))
        refuse_open_bind([sock.getsockname(), ("localhost", 8000)], server="test")


@pytest.mark.multiprocess
def test_gunicorn_refuses_auth_disabled_on_all_interfaces_before_any_worker_starts():
    port = free_port()
    done = refused_start(
        [
            str(BASE_DIR / ".venv/bin/gunicorn"),
            "memoryproject.wsgi:application",
            "--config",
            "memoryproject/gunicorn_conf.py",
            "--bind",
            f"0.0.0.0:{port}",
            "--workers",
            "1",
        ]
    )
    assert f"Reason: {OPEN_BIND_REFUSED.format(server='gunicorn', address=f'0.0.0.0:{port}')}" in done.stderr
    assert "Booting worker" not in done.stderr  # refused in the master: no worker was forked
    assert nothing_listens(port)
