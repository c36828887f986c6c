"""Locmem backend for tests: keeps what was "sent" in the module-level `outbox` list.

Like Django's locmem e-mail backend. A test can make the next sends fail::

    from messaging.providers import locmem
    locmem.fail_next(transient=False, code=21610)   # the next send raises ProviderError
    locmem.fail_next(transient=True, count=3)       # the three after that: transient errors

`reset()` empties the outbox and forgets pending failures (the `locmem_sms` fixture calls it).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from .base import BaseBackend, OutboundRequest, ProviderError, SendResult


@dataclass(frozen=True)
class SentMessage:
    request: OutboundRequest
    sid: str
    sent_at: datetime = field(default_factory=timezone.now)

    @property
    def to(self) -> str:
        return self.request.to

    @property
    def body(self) -> str:
        return self.request.body


#: Every message accepted, in order.
outbox: list[SentMessage] = []
_failures: list[ProviderError] = []
_lock = threading.Lock()


def fail_next(
    error: ProviderError | None = None,
    *,
    transient: bool = True,
    code: int | None = None,
    http_status: int | None = None,
    retry_after: float | None = None,
    count: int = 1,
) -> None:
    """Make the next `count` sends raise `error` (or one built from the other arguments)."""
    error = error or ProviderError(
        f"locmem: simulated {'transient' if transient else 'permanent'} failure",
        transient=transient,
        code=code,
        http_status=http_status,
        retry_after=retry_after,
    )
    with _lock:
        _failures.extend([error] * count)


def reset() -> None:
    with _lock:
        outbox.clear()
        _failures.clear()


class LocmemBackend(BaseBackend):
    def send(self, request: OutboundRequest) -> SendResult:
        """Append to `outbox` and return a unique Twilio-shaped SID, or raise a queued failure."""
        with _lock:
            if _failures:
                raise _failures.pop(0)
            sid = "SM" + uuid.uuid4().hex
            outbox.append(SentMessage(request=request, sid=sid))
        return SendResult(provider_sid=sid, status="queued", raw={"backend": "locmem"})

    def find_sent(self, request: OutboundRequest, *, since: datetime) -> SendResult | None:
        """The earliest outbox entry for this message id at or after `since`."""
        with _lock:
            for sent in outbox:
                if sent.sent_at < since:
                    continue
                if sent.request.message_id == request.message_id:
                    return SendResult(provider_sid=sent.sid, raw={"backend": "locmem"})
        return None
