from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularRedocView, SpectacularSwaggerView

from memory.api.metrics import MetricsView

urlpatterns = [
    path("v1/", include("memory.api.urls")),
    path("admin/", admin.site.urls),
    path("metrics", MetricsView.as_view(), name="metrics"),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi-schema"),
    # Swagger UI and Redoc load their scripts from drf-spectacular-sidecar's static files.
    path("docs/", SpectacularSwaggerView.as_view(url_name="openapi-schema"), name="swagger-ui"),
    path("redoc/", SpectacularRedocView.as_view(url_name="openapi-schema"), name="redoc"),
]
handler400 = "memory.api.errors.bad_request"
handler404 = "memory.api.errors.not_found"
handler500 = "memory.api.errors.server_error"
