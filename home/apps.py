from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class HomeConfig(AppConfig):
    """The admin's home page per persona (see `home.sites`) and the attention registry."""

    default = True
    name = "home"
    verbose_name = "Home"


class BackOfficeAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with our site as `admin.site`."""

    default = False
    default_site = "home.sites.BackOfficeAdminSite"
