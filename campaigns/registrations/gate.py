"""Does an approved registration cover a sender's traffic for a program and message type?

Asked by dispatch for every claimed message from a 10DLC sender (carriers block unregistered
10DLC traffic, error 30034) and by the program review. The covered set is small (senders x
programs x message types of approved registrations) and is loaded at most once a minute per
worker.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings

from config.lib.process_cache import ProcessCache

from .models import Registration, RegistrationStatus
from .validation import covered_message_types

log = logging.getLogger(__name__)

UNREGISTERED_SENDER = "unregistered_sender"
#: How long a held message waits before dispatch asks again.
RECHECK_AFTER = timedelta(minutes=15)
_coverage: ProcessCache[frozenset[tuple[int, int, str]]] = ProcessCache(
    "registration coverage", seconds=60.0
)
#: (sender, program, type) already logged as unregistered by this process.
_warned: ProcessCache[bool] = ProcessCache("unregistered senders warned", seconds=None)


def coverage() -> frozenset[tuple[int, int, str]]:
    """(sender id, program id, message type) for every approved registration, from the DB."""
    covered: set[tuple[int, int, str]] = set()
    registrations = (
        Registration.objects.filter(
            status=RegistrationStatus.APPROVED, approved_snapshot__isnull=False
        )
        .select_related("approved_snapshot")
        .prefetch_related("senders", "programs")
    )
    for registration in registrations:
        types = covered_message_types(registration.approved_snapshot)
        for sender in registration.senders.all():
            for program in registration.programs.all():
                covered |= {(sender.pk, program.pk, t) for t in types}
    return frozenset(covered)


def cached_coverage() -> frozenset[tuple[int, int, str]]:
    """`coverage()`, read at most once a minute per process."""
    return _coverage.get_or_load("coverage", coverage)


def unregistered_sender_hold(message, now: datetime) -> tuple[str, datetime] | None:
    """(unregistered_sender, until) for a 10DLC sender's uncovered message under the "hold"
    policy; None otherwise (under "warn" the message goes and the log says why)."""
    sender = message.sender
    if sender is None or sender.kind != "10dlc":
        return None
    key = (sender.pk, message.program_id, message.message_type)
    if key in cached_coverage():
        return None
    if settings.SMS_UNREGISTERED_SENDER != "hold":
        if key not in _warned:  # once per sender, program and type per worker, not per message
            _warned.put(key, True)
            log.warning(
                "sender %s sends program %s (%s) with no approved registration (message %s)",
                *key,
                message.pk,
            )
        return None
    return UNREGISTERED_SENDER, now + RECHECK_AFTER
