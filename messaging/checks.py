"""System checks of the messaging settings (``manage.py check --deploy``)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register

W_PRIVATE_WEBHOOK_URLS = "messaging.W001"


@register(Tags.security, deploy=True)
def webhook_private_urls_check(app_configs=None, **kwargs) -> list[CheckMessage]:
    """Warn when partner webhooks may reach loopback, private or link-local addresses."""
    if not settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        return []
    return [
        Warning(
            "WEBHOOK_ALLOW_PRIVATE_URLS is on: a partner webhook URL may point at this "
            "server's own network (loopback, private or link-local addresses).",
            hint="Unset WEBHOOK_ALLOW_PRIVATE_URLS in production; it is meant for local "
            "development only.",
            id=W_PRIVATE_WEBHOOK_URLS,
        )
    ]
