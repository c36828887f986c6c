"""Twilio backend: hands messages to Twilio's Messages API through the official `twilio` client.

Settings:

- `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN`: the account (HTTP basic auth).
- `TWILIO_TIMEOUT` (seconds, default 10): connect and read timeout of every request.
- `TWILIO_API_BASE_URL`, `TWILIO_LOOKUP_BASE_URL` (default: Twilio's own hosts): where the
  `api` and `lookups` domains live; tests and benchmarks point both at the local stand-in
  (`tests/standin/twilio_standin.py`). They set the client's public `Domain.base_url`, so every
  URL the library builds, next-page links included, goes there.
- `PUBLIC_BASE_URL`: every message asks for status callbacks at
  `{PUBLIC_BASE_URL}/webhooks/twilio/status/?mid={message_id}`.

Errors become `ProviderError`:

- HTTP 429 and 5xx: transient, with `retry_after` from the Retry-After header when given.
- timeouts and connection errors: transient. A read timeout, a dropped connection or a 5xx
  leaves the outcome unknown (Twilio may have accepted the message): the message says so, and
  dispatch reconciles with `find_sent` before sending again.
- 401/403 (bad credentials, suspended account): transient, because they say nothing about the
  message; failing every message of a campaign for a rotated token would lose it.
- 21611 (the sender's queue at Twilio is full): transient, whatever the HTTP status.
- any other 4xx: permanent, with Twilio's error `code` (21610, 21211, 21614, 30007...).

Every message is sent with `ValidityPeriod` (`SMS_VALIDITY_PERIOD_SECONDS`): one that cannot
leave Twilio's queue in time fails with 30036 in its status callback and is recorded as
expired, instead of arriving hours late (in quiet hours, or after an opt-out).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.rest.api.v2010.account.message import MessageInstance
from urllib3.exceptions import NameResolutionError, NewConnectionError

from templates.encoding import smart_encode

from .base import BaseBackend, OutboundRequest, ProviderError, SendResult

# The library logs about a dozen INFO lines per request (URLs with phone numbers, headers); at
# a thousand sends a second that costs more than the sends. Off unless LOGGING turns it on.
http_logger = logging.getLogger(f"{__name__}.http")
if http_logger.level == logging.NOTSET:
    http_logger.setLevel(logging.WARNING)

STATUS_CALLBACK_PATH = "/webhooks/twilio/status/"
#: How many of a number's most recent messages `find_sent` reads at most.
FIND_SENT_SCAN_LIMIT = 200
#: Our clock and Twilio's disagree a little; `find_sent` looks this much before `since`.
CLOCK_SKEW = timedelta(minutes=2)
#: Error codes that say "not now" rather than "never": 21611, the sender's queue is full.
TRANSIENT_CODES = frozenset({21611})
# Connections kept per host; beyond it, threads open and drop connections per request.
POOL_SIZE = 32

# The error answer's Retry-After header, seen by a response hook in the thread that made the
# request: TwilioRestException does not carry headers.
_last_response = threading.local()


def _remember_retry_after(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    _last_response.retry_after = (
        response.headers.get("Retry-After") if response.status_code >= 400 else None
    )


def twilio_client() -> Client:
    """The process's Twilio client for the current settings (created once, then reused).

    Cached per settings and per process id, so `override_settings` in tests gets its own
    client and a forked worker never shares its parent's sockets.
    """
    return _client(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        settings.TWILIO_API_BASE_URL,
        settings.TWILIO_LOOKUP_BASE_URL,
        float(settings.TWILIO_TIMEOUT),
        os.getpid(),
    )


@lru_cache(maxsize=8)
def _client(
    account_sid: str,
    auth_token: str,
    api_base_url: str | None,
    lookup_base_url: str | None,
    timeout: float,
    pid: int,
) -> Client:
    # requests re-reads the proxy variables from the environment on every request (~150 µs of
    # a ~700 µs send); read them once here instead.
    proxies = requests.utils.get_environ_proxies(api_base_url or "https://api.twilio.com")
    http_client = TwilioHttpClient(
        timeout=timeout,
        request_hooks={"response": [_remember_retry_after]},
        proxy=proxies,
        logger=http_logger,
    )
    session = http_client.session
    session.trust_env = False
    session.verify = (
        os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    )
    # The library keeps cpu_count + 4 https connections and requests' default 10 for http://
    # (the stand-in): fewer than a threaded worker may use at once.
    for scheme in ("https://", "http://"):
        session.mount(scheme, HTTPAdapter(pool_maxsize=POOL_SIZE))
    client = Client(account_sid, auth_token, http_client=http_client)
    if api_base_url or lookup_base_url:
        # TWILIO_EDGE / TWILIO_REGION in the environment would rewrite our host name.
        client.edge = client.region = None
    if api_base_url:
        client.api.base_url = api_base_url.rstrip("/")
    if lookup_base_url:
        client.lookups.base_url = lookup_base_url.rstrip("/")
    return client


def status_callback_url(message_id: int) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}{STATUS_CALLBACK_PATH}?mid={message_id}"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def provider_error(exc: Exception) -> ProviderError:
    """Classify anything the twilio client raised (see the module docstring)."""
    if type(exc) is TwilioException and len(exc.args) > 1 and hasattr(exc.args[1], "status_code"):
        exc = _as_rest_exception(exc.args[0], exc.args[1])
    if isinstance(exc, TwilioRestException | TwilioServiceException):
        status = int(exc.status)
        # Without a JSON body the library puts the HTTP status in `code`.
        code = exc.code if exc.code and exc.code != status else None
        text = getattr(exc, "msg", None) or getattr(exc, "title", "") or ""
        message = f"Twilio answered HTTP {status}" + (f" (error {code})" if code else "")
        message += f": {text}" if text else ""
        if status == 429 or status >= 500:
            return ProviderError(
                message + ("; the message may have been accepted" if status >= 500 else ""),
                transient=True,
                code=code,
                http_status=status,
                retry_after=parse_retry_after(getattr(_last_response, "retry_after", None)),
            )
        transient = status in (401, 403) or code in TRANSIENT_CODES
        return ProviderError(message, transient=transient, code=code, http_status=status)
    if isinstance(exc, requests.ConnectTimeout):
        return ProviderError(f"Twilio unreachable (connect timeout): {exc}", transient=True)
    if isinstance(exc, requests.Timeout):
        return ProviderError(
            f"Twilio did not answer in time; the message may have been accepted: {exc}",
            transient=True,
        )
    if isinstance(exc, requests.ConnectionError) and _never_connected(exc):
        return ProviderError(f"Twilio unreachable (no connection): {exc}", transient=True)
    if isinstance(exc, requests.ConnectionError):
        return ProviderError(
            f"Connection to Twilio failed; if the request got out, the message may have been "
            f"accepted: {exc}",
            transient=True,
        )
    if isinstance(exc, requests.RequestException | TwilioException):
        return ProviderError(f"Twilio request failed: {exc}", transient=True)
    raise TypeError(f"not a provider error: {exc!r}")


def _as_rest_exception(message: str, response: Any) -> TwilioRestException:
    """A list page's error (the library raises a bare TwilioException) in the usual shape."""
    try:
        payload = json.loads(response.text)
    except (TypeError, ValueError):
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    text = f"{message}: {payload['message']}" if payload.get("message") else message
    return TwilioRestException(response.status_code, "", text, payload.get("code"), "GET")


def _never_connected(exc: requests.ConnectionError) -> bool:
    """True when no connection was made (refused, DNS), so the request surely never arrived."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError | NameResolutionError)


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _result(message: MessageInstance) -> SendResult:
    return SendResult(
        provider_sid=message.sid,
        status=message.status or "queued",
        price=_decimal(message.price),
        price_unit=message.price_unit or "",
        raw={
            "sid": message.sid,
            "status": message.status,
            "to": message.to,
            "from": message.from_,
            "messaging_service_sid": message.messaging_service_sid,
            "num_segments": message.num_segments,
            "date_created": message.date_created.isoformat() if message.date_created else None,
            "error_code": message.error_code,
        },
    )


class TwilioBackend(BaseBackend):
    """Sends through Twilio. Instances are cheap; the HTTP client is shared per process."""

    def send(self, request: OutboundRequest) -> SendResult:
        """Create the message at Twilio; `SendResult.status` is Twilio's (queued/accepted).

        Sends From and/or MessagingServiceSid as given (Twilio answers 21603 if neither).
        Raises ProviderError. Never retries by itself: a retried POST could send twice.
        """
        params: dict[str, Any] = {
            "to": request.to,
            "body": request.body,
            "status_callback": request.status_callback or status_callback_url(request.message_id),
        }
        if request.from_number:
            params["from_"] = request.from_number
        if request.messaging_service_sid:
            params["messaging_service_sid"] = request.messaging_service_sid
        if request.validity_period:
            params["validity_period"] = request.validity_period
        try:
            message = twilio_client().api.account.messages.create(**params)
        except (TwilioException, requests.RequestException) as exc:
            raise provider_error(exc) from exc
        return _result(message)

    def fetch_price(self, provider_sid: str) -> tuple[Decimal, str] | None:
        """The message's price at Twilio (filled in after sending), or None while it is empty.

        Twilio gives prices as negative amounts (a charge); stored as Twilio gives them.
        """
        try:
            message = twilio_client().api.account.messages(provider_sid).fetch()
        except (TwilioException, requests.RequestException) as exc:
            raise provider_error(exc) from exc
        price = _decimal(message.price)
        return None if price is None else (price, message.price_unit or "USD")

    def find_sent(self, request: OutboundRequest, *, since: datetime) -> SendResult | None:
        """The message Twilio accepted for `request` at or after `since`, or None.

        Reads the most recent messages to the number (at most FIND_SENT_SCAN_LIMIT) and
        matches the body (compared after Smart Encoding's substitutions on both sides: a
        Messaging Service with Smart Encoding stores the rewritten text), the sender (the
        Messaging Service when the request names one, else From) and a creation time no
        earlier than `since` minus CLOCK_SKEW; the earliest match wins. It does not filter on
        DateSent: Twilio leaves date_sent empty while a message waits in its queue, which is
        exactly the message a lost answer leaves behind. Twilio does not echo our callback URL,
        so two identical bodies to one number within the window cannot be told apart.
        Raises ProviderError (transient) when Twilio cannot be asked.
        """
        horizon = since - CLOCK_SKEW
        body = smart_encode(request.body)
        matches: list[MessageInstance] = []
        try:
            for message in twilio_client().api.account.messages.stream(
                to=request.to, limit=FIND_SENT_SCAN_LIMIT, page_size=50
            ):
                if message.date_created is not None and message.date_created < horizon:
                    continue
                if smart_encode(message.body or "") != body:
                    continue
                if request.messaging_service_sid:
                    # The service picks the From from its pool: only the service can match.
                    if message.messaging_service_sid != request.messaging_service_sid:
                        continue
                elif request.from_number and message.from_ != request.from_number:
                    continue
                matches.append(message)
        except (TwilioException, requests.RequestException) as exc:
            error = provider_error(exc)
            raise ProviderError(
                f"Could not list messages at Twilio: {error}",
                transient=True,
                code=error.code,
                http_status=error.http_status,
                retry_after=error.retry_after,
            ) from exc
        if not matches:
            return None
        epoch = datetime.min.replace(tzinfo=UTC)
        # Twilio lists newest first and dates to the second: among equals, the last is oldest.
        return _result(min(reversed(matches), key=lambda m: m.date_created or epoch))
