import logging

from django.apps import AppConfig
from django.conf import settings


class MemoryConfig(AppConfig):
    name = "memory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The settings already refused AUTH_MODE=disabled on anything but loopback.
        if settings.AUTH_MODE == "disabled":
            logging.getLogger("memory.api.auth").warning(
                "AUTH_MODE=disabled: every request acts unrestricted, with no credential (bound to %s only).",
                settings.BIND_ADDRESS,
            )
