"""AUTH_MODE=disabled serves on loopback only, checked on the sockets a server actually bound.

A variable saying where the server binds can disagree with the command line that binds
it (`manage.py mcp --host 0.0.0.0`), so each server checks its own sockets once bound and
before it answers anything: gunicorn in its `when_ready` hook (memoryproject/gunicorn_conf.py,
before a worker starts), `manage.py mcp` on the socket it binds for uvicorn. An address
that is not loopback (0.0.0.0, ::, a LAN address) is refused, naming it; a Unix socket is
reachable only from this host and allowed.
"""

import ipaddress
import os
import socket
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# What getsockname() returns: a Unix socket's path, or (host, port[, flowinfo, scope_id]).
SocketAddress = str | bytes | tuple[Any, ...]


def is_loopback(address: SocketAddress) -> bool:
    """Whether a socket address (getsockname(), or a (host, port) to resolve) is reachable
    from this host only. A host name counts only when every address it resolves to does."""
    if isinstance(address, (str, bytes)):  # a Unix socket's path
        return True
    host = address[0]
    try:
        ip = ipaddress.ip_address(host.split("%")[0])  # an IPv6 scope id ("fe80::1%eth0") aside
    except ValueError:
        resolved = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        return bool(resolved) and all(is_loopback(info[4]) for info in resolved)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:  # ::ffff:127.0.0.1, dual-stack
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _shown(address: SocketAddress) -> str:
    if isinstance(address, (str, bytes)):
        return f"unix:{os.fsdecode(address)}"
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def refuse_open_bind(addresses: Iterable[SocketAddress], *, server: str) -> None:
    """Raise ImproperlyConfigured when AUTH_MODE is disabled and one of the addresses
    `server` is bound to (or, before binding, will bind to) is not loopback."""
    if settings.AUTH_MODE != "disabled":
        return
    exposed = [_shown(a) for a in addresses if not is_loopback(a)]
    if exposed:
        raise ImproperlyConfigured(
            f"AUTH_MODE=disabled is refused: {server} is bound to {', '.join(exposed)}, not only to loopback, "
            "so anyone on the network would have full access. Use API keys (AUTH_MODE=required), "
            "or bind to 127.0.0.1."
        )
