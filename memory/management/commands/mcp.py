from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from memory.mcp.server import TRANSPORTS, serve


class Command(BaseCommand):
    help = (
        "Serve the memory tools over MCP: stdio (for a client that starts this command), "
        "or SSE / streamable HTTP on MCP_HOST:MCP_PORT (loopback by default)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--transport", choices=TRANSPORTS, default="stdio")
        parser.add_argument("--host", default=None, help="default: MCP_HOST (127.0.0.1)")
        parser.add_argument("--port", type=int, default=None, help="default: MCP_PORT")

    def handle(self, *args: Any, transport: str, host: str | None, port: int | None, **options: Any) -> None:
        host = host or settings.MCP_HOST
        port = port or settings.MCP_PORT
        if transport != "stdio":
            # stdout is the protocol on stdio, so only the network transports say where they are.
            path = "/mcp" if transport == "streamable-http" else "/sse"
            self.stderr.write(f"mcp: {transport} on http://{host}:{port}{path}")
        try:
            serve(transport=transport, host=host, port=port)
        except ImproperlyConfigured as exc:  # AUTH_MODE=disabled on a non-loopback address
            raise CommandError(str(exc)) from exc
