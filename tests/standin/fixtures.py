"""pytest fixtures for the provider stand-ins; imported into tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

from .twilio_standin import TwilioStandin


@pytest.fixture
def twilio_standin() -> Iterator[TwilioStandin]:
    """A running Twilio stand-in on an ephemeral loopback port, fresh for each test.

    Point the backend at it with `override_settings(**twilio_standin.django_settings())`.
    """
    standin = TwilioStandin().start()
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture
def locmem_sms() -> Iterator[ModuleType]:
    """The locmem backend module with an empty `outbox` and no pending failures."""
    from messaging.providers import locmem

    locmem.reset()
    try:
        yield locmem
    finally:
        locmem.reset()


@pytest.fixture
def a2p_standin():
    """The Messaging v1 registration stand-in (brands, campaigns, toll-free verifications)."""
    from .twilio_a2p import A2PStandin

    standin = A2PStandin().start()
    try:
        yield standin
    finally:
        standin.stop()
