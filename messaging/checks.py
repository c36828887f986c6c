"""System checks of the messaging settings (``manage.py check --deploy``)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register

from config.lib.queueing import TIMEOUTS

from .dispatch import LEASE_MARGIN

W_PRIVATE_WEBHOOK_URLS = "messaging.W001"
W_LEASE_OUTLASTS_DISPATCH_TASK = "messaging.W002"


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


@register()
def dispatch_lease_check(app_configs=None, **kwargs) -> list[CheckMessage]:
    """Warn when a dispatch batch may still be handing messages over as its task is killed.

    A batch starts no hand-off (and sleeps for no rate) past `LEASE_MARGIN` of its lease before
    the lease ends; its last hand-off (one provider request) must end before django-q2 kills
    the task, scheduled (`Q_CLUSTER` timeout) or queued (`TIMEOUTS`).
    """
    last_start = settings.SMS_LEASE_SECONDS * (1 - LEASE_MARGIN)
    timeout = min(settings.Q_CLUSTER["timeout"], TIMEOUTS["messaging.tasks.dispatch"])
    if last_start + settings.TWILIO_TIMEOUT <= timeout:
        return []
    return [
        Warning(
            f"A dispatch batch may start a hand-off {last_start:g} s after it claimed its "
            f"messages and wait {settings.TWILIO_TIMEOUT:g} s for the provider, but its task is "
            f"killed after {timeout:g} s.",
            hint=f"Lower SMS_LEASE_SECONDS (at most "
            f"{int((timeout - settings.TWILIO_TIMEOUT) / (1 - LEASE_MARGIN))}) or TWILIO_TIMEOUT.",
            id=W_LEASE_OUTLASTS_DISPATCH_TASK,
        )
    ]
