from django.apps import AppConfig


class WorkersConfig(AppConfig):
    name = "workers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Register every actor in every process, so `workers.queue` can send by name.
        from workers import actors  # noqa: F401
