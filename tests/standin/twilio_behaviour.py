"""What real Twilio does around a message, beyond answering the REST API: the stand-in's half
that a test drives (mixed into `TwilioStandin`).

- Incoming messages (`incoming`): Twilio's opt-out handling answers an exact keyword to a
  sender whose provider handles keywords, and blocks the pair on STOP, *before* it calls the
  webhook; with Advanced Opt-Out the webhook carries `OptOutType`, custom keywords included.
- Sends to a blocked pair: 21610 at once from a number, or accepted (201) and failed later by
  status callback through a Messaging Service. Carrier errors (30003-30007) only ever arrive
  by status callback (`carrier_error`).
- `settle(advance=...)`: what happens next to every message still in the queue, as the status
  callbacks Twilio would post: expired past its ValidityPeriod (30036), failed with its
  pending error, or delivered; the price is filled in then (a status callback does not carry
  it: fetch the message to read it).
- Signatures: the auth token of the account (or subaccount) a number belongs to, or a shared
  key with HMAC-SHA256 announced in X-Twilio-Webhooks-Signature-Settings (`sign`).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from twilio.request_validator import (
    HMAC_SHA256,
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
)

from .twilio_api import API_VERSION, ERROR_MESSAGES, StoredMessage

# Twilio's default opt-out keywords (help.twilio.com/articles/223134027).
DEFAULT_KEYWORDS = {
    "STOP": {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"},
    "START": {"START", "YES", "UNSTOP"},
    "HELP": {"HELP", "INFO"},
}
# Twilio's default replies (help.twilio.com/articles/223134027), shortened.
DEFAULT_REPLIES = {
    "STOP": "You have successfully been unsubscribed. You will not receive any more messages "
    "from this number. Reply START to resubscribe.",
    "START": "You have successfully been re-subscribed to messages from this number. Reply "
    "HELP for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
    "HELP": "Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
}
CARRIER_ERRORS = frozenset({30003, 30004, 30005, 30006, 30007})
#: What the stand-in charges per segment once a message went out (Twilio prices are negative).
PRICE_PER_SEGMENT = "-0.00790"

_inbound_sids = itertools.count(1)


@dataclass
class SenderSetup:
    """How Twilio treats keywords to one of our numbers (or Messaging Services)."""

    provider_handles_keywords: bool = True
    advanced_opt_out: bool = False
    #: Advanced Opt-Out's own words, e.g. {"ARRET": "STOP"}.
    custom_keywords: dict[str, str] = field(default_factory=dict)
    replies: dict[str, str] = field(default_factory=dict)
    messaging_service_sid: str | None = None
    account_sid: str | None = None


@dataclass(frozen=True)
class ProviderReply:
    """A message Twilio itself sent to a person (its keyword handling)."""

    to: str
    from_: str
    body: str
    keyword: str


@dataclass(frozen=True)
class Webhook:
    """A request Twilio would post to us: where, what, and the headers (signature)."""

    url: str
    params: dict[str, str]
    headers: dict[str, str]

    def client_kwargs(self) -> dict[str, str]:
        """Headers as Django's test client takes them."""
        return {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in self.headers.items()}


class TwilioBehaviour:
    """State and test-facing methods; `TwilioApi` consults `_send_outcome` on every send."""

    account_sid: str
    auth_token: str
    _lock: threading.Lock
    _messages: dict[str, StoredMessage]

    def reset_behaviour(self) -> None:
        self._senders: dict[str, SenderSetup] = {}
        self._blocked: set[tuple[str, str]] = set()
        self._carrier_errors: dict[str, int] = {}
        self._subaccounts: dict[str, str] = {}
        self._shared_key: tuple[str, str, str] | None = None
        self.provider_replies: list[ProviderReply] = []
        #: Messaging Services with Smart Encoding on: they store the rewritten body.
        self.smart_encoding_services: set[str] = set()

    # --- configuration ----------------------------------------------------------------------

    def configure_sender(self, number: str, **setup: Any) -> None:
        """Keyword handling of `number` (see `SenderSetup`); unconfigured numbers get Twilio's
        default: the provider answers, no Advanced Opt-Out."""
        with self._lock:
            self._senders[number] = SenderSetup(**setup)

    def add_subaccount(self, account_sid: str, auth_token: str) -> None:
        # A subaccount's numbers sign with its own token (twilio.com/docs/usage/security).
        with self._lock:
            self._subaccounts[account_sid] = auth_token

    def use_shared_key(self, key_id: str, secret: str, algorithm: str = HMAC_SHA256) -> None:
        """Sign webhooks with a shared key, announced in X-Twilio-Webhooks-Signature-Settings."""
        with self._lock:
            self._shared_key = (key_id, secret, algorithm)

    def carrier_error(self, to: str, code: int) -> None:
        """Accept sends to `to`, then fail them by status callback with a carrier error."""
        # 30003-30007 only come in status callbacks (twilio.com/docs/api/errors/30003).
        if code not in CARRIER_ERRORS:
            raise ValueError(f"{code} is not a carrier error")
        with self._lock:
            self._carrier_errors[to] = code

    def queue_full(self, count: int = 1) -> None:
        """The sender's queue at Twilio is full: the next `count` sends are refused."""
        # A full queue refuses new messages with 400 and 21611 (twilio.com/docs/api/errors/21611).
        self.fail_requests(400, code=21611, count=count)  # type: ignore[attr-defined]

    def blocked(self, person: str, number: str) -> bool:
        with self._lock:
            return (person, self._pair_key(number)) in self._blocked

    # --- incoming messages ------------------------------------------------------------------

    def incoming(self, from_: str, to: str, body: str, *, url: str) -> Webhook:
        """A person texts `body` to our `to`: Twilio's keyword handling first, then the webhook
        it would post to `url` (signed)."""
        setup = self._setup(to)
        word = " ".join(body.split()).upper()
        keyword = ""
        if setup.provider_handles_keywords:
            # Only an exact keyword triggers Twilio's handling (help.twilio.com/articles/223134027).
            keyword = setup.custom_keywords.get(word, "") if setup.advanced_opt_out else ""
            keyword = keyword or next((k for k, w in DEFAULT_KEYWORDS.items() if word in w), "")
        if keyword:
            # Twilio answers and, on STOP, blocks the pair before calling the webhook.
            text = setup.replies.get(keyword) or DEFAULT_REPLIES[keyword]
            with self._lock:
                self.provider_replies.append(ProviderReply(from_, to, text, keyword))
                pair = (from_, self._pair_key(to))
                if keyword == "STOP":
                    self._blocked.add(pair)
                elif keyword == "START":
                    self._blocked.discard(pair)
        sid = f"SM{next(_inbound_sids):032x}"
        params = {
            "ToCountry": "US",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "SmsSid": sid,
            "SmsStatus": "received",
            "Body": body,
            "FromCountry": "US",
            "To": to,
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": setup.account_sid or self.account_sid,
            "From": from_,
            "ApiVersion": API_VERSION,
        }
        if setup.messaging_service_sid:
            params["MessagingServiceSid"] = setup.messaging_service_sid
        if keyword and setup.advanced_opt_out:
            # Advanced Opt-Out sends OptOutType (help.twilio.com/articles/31560110671259).
            params["OptOutType"] = keyword
        return Webhook(url, params, self.sign(url, params, params["AccountSid"]))

    def sign(self, url: str, params: dict[str, str], account_sid: str | None = None) -> dict:
        """The headers Twilio signs a webhook with in the current set-up."""
        with self._lock:
            shared = self._shared_key
            token = self._subaccounts.get(account_sid or "", self.auth_token)
        if shared is not None:
            key_id, secret, algorithm = shared
            # The settings header names key and algorithm (twilio.request_validator).
            signature = RequestValidator(secret).compute_signature(url, params, algorithm)
            return {
                SIGNATURE_HEADER: signature,
                SIGNATURE_SETTINGS_HEADER: f"key={key_id},algorithm={algorithm}",
            }
        return {SIGNATURE_HEADER: RequestValidator(token).compute_signature(url, params)}

    # --- after sending ----------------------------------------------------------------------

    def settle(self, *, advance: float = 0.0) -> list[Webhook]:
        """Move every message still queued to its end, `advance` seconds from now, and return
        the status callbacks Twilio would post (signed), oldest first."""
        now = datetime.now(UTC)
        later = now + timedelta(seconds=advance)
        callbacks: list[Webhook] = []
        with self._lock:
            pending = [
                (sid, m)
                for sid, m in self._messages.items()
                if m.resource["status"] in ("queued", "accepted") and m.status_callback
            ]
        for sid, stored in pending:
            resource = stored.resource
            if later - stored.created > timedelta(seconds=stored.validity_period):
                # Past its ValidityPeriod: never sent (twilio.com/docs/api/errors/30036).
                status, code = "failed", 30036
            elif stored.fails_with is not None:
                code = stored.fails_with
                status = "undelivered" if code in CARRIER_ERRORS else "failed"
            else:
                status, code = "delivered", None
            with self._lock:
                resource["status"] = status
                resource["date_updated"] = format_datetime(later)
                if resource["from"] is None:
                    resource["from"] = getattr(self, "service_number", None)
                if status != "failed" or code != 30036:
                    stored.sent = later
                    resource["date_sent"] = format_datetime(later)
                    # The price is filled in after sending (Messages resource: price, price_unit).
                    segments = int(resource.get("num_segments") or 1)
                    resource["price"] = f"{float(PRICE_PER_SEGMENT) * segments:.5f}"
                if code is not None:
                    resource["error_code"] = code
                    resource["error_message"] = ERROR_MESSAGES.get(code)
            params = {
                "AccountSid": self.account_sid,
                "ApiVersion": API_VERSION,
                "From": resource["from"] or "",
                "MessageSid": sid,
                "MessageStatus": status,
                "SmsSid": sid,
                "SmsStatus": status,
                "To": resource["to"],
            }
            if resource["messaging_service_sid"]:
                params["MessagingServiceSid"] = resource["messaging_service_sid"]
            if code is not None:
                params["ErrorCode"] = str(code)
            url = stored.status_callback or ""
            callbacks.append(Webhook(url, params, self.sign(url, params)))
        return callbacks

    # --- internals --------------------------------------------------------------------------

    def _setup(self, number: str) -> SenderSetup:
        with self._lock:
            return self._senders.get(number) or SenderSetup()

    def _pair_key(self, number: str) -> str:
        """Opt-outs through a Messaging Service cover the whole service."""
        setup = self._senders.get(number)
        return (setup.messaging_service_sid if setup else None) or number

    def _send_outcome(
        self, to: str, from_: str | None, service: str | None
    ) -> tuple[int | None, int | None]:
        with self._lock:
            blocked = (to, service or self._pair_key(from_ or "")) in self._blocked
            carrier = self._carrier_errors.get(to)
        if blocked and not service:
            # From a number: refused at once (twilio.com/docs/api/errors/21610).
            return 21610, None
        if blocked:
            # Through a Messaging Service the send is accepted and fails later by callback.
            return None, 21610
        return None, carrier
