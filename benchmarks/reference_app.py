"""The reference server's ASGI app with its logging configured (LOG_LEVEL), as its own
`agent-memory api` command does; plain `uvicorn agent_memory_server.main:app` leaves
structlog printing every debug line, which would charge the reference for our setup."""

from agent_memory_server.logging import configure_logging

configure_logging()

from agent_memory_server.main import app  # noqa: E402

__all__ = ["app"]
