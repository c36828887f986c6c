"""Glue between dispatch and the sending policy: should this message wait, and until when?"""

from __future__ import annotations

from datetime import datetime

from .models import OutboundMessage


def policy_hold(message: OutboundMessage, now: datetime) -> tuple[str, datetime] | None:
    """(reason, until) if quiet hours or a frequency cap say not now; None to go ahead."""
    return None
