from django.apps import AppConfig


class SiteConfig(AppConfig):
    """The site's own chrome: the admin's base template (favicon, time zone), the landing page."""

    name = "config"
    label = "site"
    verbose_name = "Site"
