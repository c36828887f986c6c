"""Provider backends, chosen by `settings.SMS_BACKEND` like Django's e-mail backends."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from .base import BaseBackend, OutboundRequest, ProviderError, SendResult

BACKENDS = {
    "twilio": "messaging.providers.twilio.TwilioBackend",
    "console": "messaging.providers.console.ConsoleBackend",
    "locmem": "messaging.providers.locmem.LocmemBackend",
}


@cache
def _backend_class(name: str) -> type[BaseBackend]:
    return import_string(BACKENDS.get(name, name))


def get_backend(name: str | None = None) -> BaseBackend:
    """A backend instance for `name` (default `settings.SMS_BACKEND`): a short name or a path."""
    return _backend_class(name or settings.SMS_BACKEND)()


__all__ = ["BaseBackend", "OutboundRequest", "ProviderError", "SendResult", "get_backend"]
