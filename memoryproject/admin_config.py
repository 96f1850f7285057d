"""Django's admin app with our site as its default (`memory.admin.site`), listed in
INSTALLED_APPS instead of "django.contrib.admin". It lives here, not beside the site:
Django imports this module before any model is ready, and importing `memory.admin`
imports models."""

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    default_site = "memory.admin.site.default_site"
