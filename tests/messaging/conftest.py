"""Fixtures for the Twilio webhook tests (none is autouse: other messaging tests are unaffected)."""

import pytest

from config.lib.process_cache import clear_all as clear_process_caches
from tests.factories import create_program, create_sender

from .twilio_helpers import AUTH_TOKEN, OUR_NUMBER, PUBLIC_BASE_URL


@pytest.fixture
def twilio_webhooks(settings):
    """Webhook settings as deployed behind a proxy, and no sender cached from another test."""
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.PUBLIC_BASE_URL = PUBLIC_BASE_URL
    settings.SMS_REVOKE_ALL = False
    settings.SMS_AFTER_HOURS_REPLY = ""
    settings.SMS_SUPPORT_KEYWORDS = ["SUPPORT", "AGENT"]
    clear_process_caches()
    yield settings
    clear_process_caches()


@pytest.fixture
def offers():
    return create_program("offers", join_keywords=["JOIN", "DEALS"])


@pytest.fixture
def alerts():
    return create_program(
        "alerts",
        message_type="transactional",
        opt_out_confirmation_text="Acme Alerts: you will get no more alerts.",
    )


@pytest.fixture
def sender(twilio_webhooks, offers, alerts):
    """Our number, sending for two programs of one brand; STOP filtering is off at the
    provider (as a short code may have it), so we answer keywords ourselves."""
    sender = create_sender(offers, phone_number=OUR_NUMBER, name="Acme main", keyword_replies="us")
    sender.programs.add(alerts)
    return sender
