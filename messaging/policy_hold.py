"""Glue between dispatch and the sending policy: should this message wait, and until when?

Asked for every claimed message right before its rate tokens and its final consent check:

- a campaign scheduled "at a time in each recipient's local time" waits for that moment in
  every zone the recipient may be in;
- quiet hours (federal and state rules, `messaging.policy`) hold marketing, and transactional
  programs unless exempt; a direct answer to someone's own message (customer care) is not held;
- the rolling 24-hour frequency cap holds the message until the oldest counted one ages out;
- first of all, a 10DLC sender's message that no approved registration covers waits
  (`unregistered_sender`, see `campaigns.registrations.gate`; a setting makes it a warning).

The rule book is loaded from the database at most once a minute per worker.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from campaigns.registrations.gate import unregistered_sender_hold
from config.lib.process_cache import ProcessCache
from consent.models import MessageType

from . import policy
from .models import HoldReason, OutboundMessage

LOCAL_TIME = HoldReason.LOCAL_TIME
_rulebooks: ProcessCache[policy.RuleBook] = ProcessCache("sending rules", seconds=60.0)


def rulebook() -> policy.RuleBook:
    """The sending rules, read from the database at most once a minute per process."""
    return _rulebooks.get_or_load("rulebook", policy.RuleBook.from_db)


def _local_target(message: OutboundMessage) -> datetime | None:
    campaign = message.campaign
    if campaign is None or campaign.schedule != "local":
        return None
    return local_send_at(campaign, message.contact)


def local_send_at(campaign, contact) -> datetime:
    """When a campaign sent "in each recipient's local time" may reach `contact`: that wall
    time in the latest of the zones they may be in (the launch summary forecasts with it)."""
    zones = policy.recipient_time_zones(contact)
    return max(
        datetime.combine(campaign.local_send_date, campaign.local_send_time, ZoneInfo(zone))
        for zone in zones
    )


def policy_hold(message: OutboundMessage, now: datetime) -> tuple[str, datetime] | None:
    """(reason, until) if the message must wait; None to go ahead."""
    unregistered = unregistered_sender_hold(message, now)
    if unregistered is not None:
        return unregistered
    target = _local_target(message)
    if target is not None and target > now:
        return LOCAL_TIME, target
    if message.message_type == MessageType.CUSTOMER_CARE:
        return None
    book = rulebook()
    try:
        allowed_at = policy.next_allowed_at(message.contact, message.program, now, book)
    except policy.NoAllowedWindow:
        return HoldReason.QUIET_HOURS, now + timedelta(days=1)
    if allowed_at > now:
        return HoldReason.QUIET_HOURS, allowed_at
    cap = policy.frequency_cap(message.contact, message.program, now, book)
    if cap is not None:
        key = (message.contact_id, message.program_id)
        until = policy.frequency_hold_until({key: cap}, now).get(key)
        if until is not None and until > now:
            return HoldReason.FREQUENCY_CAP, until
    return None
