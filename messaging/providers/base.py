"""The contract every provider backend keeps.

`send()` hands one message to the provider and returns its id, or raises `ProviderError`
saying whether trying again later may help (`transient`) and, for permanent errors, the
provider's error code, which `messaging.services.apply_error_side_effects` acts on
(21610 opt-out, 21211/21614 invalid or not mobile, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class OutboundRequest:
    message_id: int
    to: str
    body: str
    from_number: str | None = None
    messaging_service_sid: str | None = None
    status_callback: str | None = None
    #: Seconds the provider may keep the message queued before it expires (None: its default).
    validity_period: int | None = None


@dataclass(frozen=True)
class SendResult:
    provider_sid: str
    status: str = "queued"
    price: Decimal | None = None
    price_unit: str = ""
    raw: dict = field(default_factory=dict)


class ProviderError(Exception):
    """A failed hand-off. `transient`: worth retrying (429, 5xx, timeouts, connection errors)."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        code: int | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code
        self.http_status = http_status
        self.retry_after = retry_after


class BaseBackend:
    def send(self, request: OutboundRequest) -> SendResult:
        raise NotImplementedError

    def fetch_price(self, provider_sid: str) -> tuple[Decimal, str] | None:
        """The provider's price of a message and its currency, or None while it has none."""
        return None

    def find_sent(self, request: OutboundRequest, *, since) -> SendResult | None:
        """Look for a message already accepted for this request (for lease reconciliation).

        Returns None when the provider has no record, raises ProviderError when it cannot say.
        """
        raise NotImplementedError
