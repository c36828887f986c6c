"""Glue between dispatch and the sending policy: should this message wait, and until when?

Asked for every claimed message right before its rate tokens and its final consent check:

- a campaign scheduled "at a time in each recipient's local time" waits for that moment in
  every zone the recipient may be in;
- quiet hours (federal and state rules, `messaging.sending_rules`) hold marketing, and transactional
  programs unless exempt; a direct answer to someone's own message (customer care) is not held;
- the rolling 24-hour frequency cap holds the message until the oldest counted one ages out;
- first of all, a 10DLC sender's message that no approved registration covers waits
  (`unregistered_sender`, see `campaigns.registrations.gate`; a setting makes it a warning),
  a check campaigns registers in `sender_holds`.

The rule book is loaded from the database at most once a minute per worker.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from config.lib.process_cache import ProcessCache
from consent.models import MessageType

from . import sending_rules
from .models import HoldReason, OutboundMessage

LOCAL_TIME = HoldReason.LOCAL_TIME
_rulebooks: ProcessCache[sending_rules.RuleBook] = ProcessCache("sending rules", seconds=60.0)

SenderHold = Callable[[OutboundMessage, datetime], "tuple[str, datetime] | None"]
#: Asked first, in order: may this sender carry this message now? A higher app adds its check
#: from its AppConfig.ready() (campaigns: an approved registration covers the 10DLC sender), so
#: messaging never imports it.
sender_holds: list[SenderHold] = []


def sender_hold_register(check: SenderHold) -> None:
    """Add `check(message, now) -> (reason, until) | None` to `sender_holds` (once)."""
    if check not in sender_holds:
        sender_holds.append(check)


def rulebook() -> sending_rules.RuleBook:
    """The sending rules, read from the database at most once a minute per process."""
    return _rulebooks.get_or_load("rulebook", sending_rules.RuleBook.from_db)


def _local_target(message: OutboundMessage) -> datetime | None:
    campaign = message.campaign
    if campaign is None or campaign.schedule != "local":
        return None
    return local_send_at(campaign, message.contact)


def local_send_at(campaign, contact) -> datetime:
    """When a campaign sent "in each recipient's local time" may reach `contact`: that wall
    time in the latest of the zones they may be in (the launch summary forecasts with it)."""
    zones = sending_rules.recipient_time_zones(contact)
    return max(
        datetime.combine(campaign.local_send_date, campaign.local_send_time, ZoneInfo(zone))
        for zone in zones
    )


def policy_hold(message: OutboundMessage, now: datetime) -> tuple[str, datetime] | None:
    """(reason, until) if the message must wait; None to go ahead."""
    for check in sender_holds:
        held = check(message, now)
        if held is not None:
            return held
    target = _local_target(message)
    if target is not None and target > now:
        return LOCAL_TIME, target
    if message.message_type == MessageType.CUSTOMER_CARE:
        return None
    book = rulebook()
    try:
        allowed_at = sending_rules.next_allowed_at(message.contact, message.program, now, book)
    except sending_rules.NoAllowedWindow:
        return HoldReason.QUIET_HOURS, now + timedelta(days=1)
    if allowed_at > now:
        return HoldReason.QUIET_HOURS, allowed_at
    cap = sending_rules.frequency_cap(message.contact, message.program, now, book)
    if cap is not None:
        key = (message.contact_id, message.program_id)
        until = sending_rules.frequency_hold_until({key: cap}, now).get(key)
        if until is not None and until > now:
            return HoldReason.FREQUENCY_CAP, until
    return None
