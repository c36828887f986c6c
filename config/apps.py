from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class SiteConfig(AppConfig):
    """The site's own chrome: the admin's base template (favicon, time zone), the landing page."""

    name = "config"
    label = "site"
    verbose_name = "Site"


class BackOfficeAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with our site (a home page per persona) as `admin.site`."""

    default = False
    default_site = "config.admin_site.BackOfficeAdminSite"
