from django.urls import path

from memory.api.health import HealthView

urlpatterns = [
    path("health", HealthView.as_view(), name="health"),
]
