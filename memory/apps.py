import logging

from django.apps import AppConfig
from django.conf import settings


class MemoryConfig(AppConfig):
    name = "memory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # gunicorn and `manage.py mcp` refuse to serve it on anything but loopback
        # (memoryproject.bind_check), once their sockets are bound.
        if settings.AUTH_MODE == "disabled":
            logging.getLogger("memory.api.auth").warning(
                "AUTH_MODE=disabled: every request acts unrestricted, with no credential (loopback only)."
            )
