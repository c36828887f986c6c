"""How the Twilio stand-in answers HTTP: routing, Twilio's resources and error shapes.

`TwilioApi` is the request-handling half of `TwilioStandin` (tests/standin/twilio_standin.py),
which owns the state listed at the top of the class and the methods tests call. Kept apart so
that each half reads on its own: what Twilio answers here, what a test can make it do there.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from templates.encoding import analyze, smart_encode

API_VERSION = "2010-04-01"

#: Default texts for the errors tests ask for (Twilio's wording, shortened).
ERROR_MESSAGES: dict[int, str] = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21211: "Invalid 'To' Phone Number",
    21602: "Message body is required.",
    21603: "A 'From' or 'MessagingServiceSid' parameter is required to send a message.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
    30003: "Unreachable destination handset",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30034: "Message from an unregistered number",
    21611: "This 'From' number has exceeded the maximum number of queued messages",
    30001: "Queue overflow",
    30036: "Validity Period Expired",
    60606: "Package not enabled",
    60607: "Country not supported",
}
REASSIGNED_ANSWERS = ("yes", "no", "no_data_available")

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_LAST_VERIFIED = re.compile(r"^\d{8}$")

Scope = Literal["send", "all"]


@dataclass(frozen=True, slots=True)
class Received:
    """One message the stand-in accepted, as a reliability test compares it with our records."""

    sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status_callback: str | None
    #: Our `OutboundMessage` id, read from the StatusCallback's `mid` query parameter.
    message_id: int | None
    #: `time.time()` when accepted: comparable with database commit times on this machine.
    received_at: float
    #: `time.monotonic()` when accepted: for intervals (rates, gaps) immune to clock steps.
    received_monotonic: float


@dataclass(slots=True)
class StoredMessage:
    resource: dict[str, Any]
    created: datetime
    status_callback: str | None
    sent: datetime | None = None
    #: Seconds it may wait in the queue (the request's ValidityPeriod, else Twilio's 36,000).
    validity_period: int = 36_000
    #: The error its status callback will carry (a carrier error, a late 21610), if any.
    fails_with: int | None = None


@dataclass(slots=True)
class Rule:
    """A temporary behaviour: an error answer or a delay, for N requests and/or until a time."""

    kind: Literal["error", "slow"]
    scope: Scope
    status: int = 0
    code: int | None = None
    message: str = ""
    retry_after: float | None = None
    accept: bool = False
    delay: float = 0.0
    remaining: int | None = None
    until: float | None = None

    def alive(self, now: float) -> bool:
        return self.remaining != 0 and (self.until is None or now < self.until)


@dataclass(slots=True)
class ReassignedAnswer:
    answer: str | None
    error_code: int | None = None


@dataclass
class LookupAsked:
    phone: str
    fields: str
    last_verified_date: str | None
    at: float = field(default_factory=time.time)


def _first(form: dict[str, list[str]], key: str) -> str | None:
    values = form.get(key)
    return values[0] if values else None


def _message_id(callback: str | None) -> int | None:
    if not callback or "mid=" not in callback:
        return None
    value = _first(parse_qs(urlsplit(callback).query), "mid")
    return int(value) if value and value.isdigit() else None


def _parse_filter_date(value: str) -> datetime | date:
    """Twilio's DateSent filters take `YYYY-MM-DD` or, from twilio-python, a full UTC time."""
    if "T" in value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return date.fromisoformat(value)


def _as_date(bound: datetime | date) -> date:
    return bound.date() if isinstance(bound, datetime) else bound


def _on_or_after(moment: datetime, bound: datetime | date) -> bool:
    return moment >= bound if isinstance(bound, datetime) else moment.date() >= bound


def _on_or_before(moment: datetime, bound: datetime | date) -> bool:
    return moment <= bound if isinstance(bound, datetime) else moment.date() <= bound


class StandinHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client's session reuses its connections
    disable_nagle_algorithm = True  # small responses must not wait for the client's ACK
    server_version = "TwilioStandin/1.0"
    sys_version = ""
    server: StandinServer

    def setup(self) -> None:
        super().setup()
        self.server.standin._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.standin._track(self.connection, add=False)

    def do_GET(self) -> None:
        self.server.standin._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.standin._handle(self, "POST")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a line per request would cost more than the request

    def reply(self, status: int, payload: bytes, headers: tuple[tuple[str, str], ...] = ()) -> None:
        """Status line, headers and body in one write (one packet for small answers)."""
        lines = [
            f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}",
            "Content-Type: application/json; charset=utf-8",
            f"Content-Length: {len(payload)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in headers)
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], standin: Any) -> None:
        self.standin = standin
        super().__init__(address, StandinHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is part of what we simulate, not an error.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class TwilioApi:
    """Answers the provider paths and the `/_standin/` control paths (see the module docs)."""

    # State owned by TwilioStandin, read and written here under `_lock`.
    account_sid: str
    _expected_auth: str
    _lock: threading.Lock
    _release: threading.Event
    _mode: Literal["refused", "hang"] | None
    _messages: dict[str, StoredMessage]
    _by_to: dict[str, list[str]]
    _received: list[Received]
    _number_failures: dict[str, tuple[int, int, str]]
    _rules: list[Rule]
    _reassigned: dict[str, ReassignedAnswer]
    _lookups: list[LookupAsked]
    requests: Counter[str]
    reassigned_default: str
    hang_seconds: float
    smart_encoding_services: set[str]

    def _send_outcome(
        self, to: str, from_: str | None, service: str | None
    ) -> tuple[int | None, int | None]:
        """(error to answer now, error for the status callback later); see TwilioBehaviour."""
        return None, None

    def _rules_for(self, kind: str) -> tuple[Rule | None, float]:
        """The error rule and the delay that apply to this request; counted rules are used up."""
        if not self._rules:  # the common case: no lock
            return None, 0.0
        error: Rule | None = None
        delay = 0.0
        now = time.monotonic()
        with self._lock:
            for rule in self._rules:
                if not rule.alive(now) or rule.scope not in ("all", kind):
                    continue
                if rule.kind == "error" and error is None:
                    error = rule
                elif rule.kind == "slow" and not delay:
                    delay = rule.delay
                else:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
            self._rules = [rule for rule in self._rules if rule.alive(now)]
        return error, delay

    def _count(self, outcome: str) -> None:
        with self._lock:
            self.requests[outcome] += 1

    def _error(
        self,
        handler: StandinHandler,
        kind: str,
        status: int,
        code: int,
        message: str,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        payload = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        self._count(f"{kind} {status}")
        handler.reply(status, json.dumps(payload).encode(), headers)

    def _rule_error(self, handler: StandinHandler, kind: str, rule: Rule) -> None:
        headers: tuple[tuple[str, str], ...] = ()
        if rule.retry_after is not None:
            value = rule.retry_after
            headers = (("Retry-After", str(int(value)) if value == int(value) else str(value)),)
        self._error(
            handler, kind, rule.status, rule.code or 20000 + rule.status, rule.message, headers
        )

    def _handle(self, handler: StandinHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        path, _, query = handler.path.partition("?")
        if path.startswith("/_standin/"):
            self._control(handler, method, path, body)
            return
        if self._mode is not None:
            if self._mode == "hang":
                self._release.wait(self.hang_seconds)
            # No answer at all: the client sees its connection drop (or times out first).
            handler.close_connection = True
            return
        parts = path.split("/")
        if handler.headers.get("Authorization") != self._expected_auth:
            self._error(handler, "auth", 401, 20003, ERROR_MESSAGES[20003])
            return
        if len(parts) >= 5 and parts[1] == API_VERSION and parts[2] == "Accounts":
            if parts[3] != self.account_sid:
                self._error(handler, "account", 404, 20404, ERROR_MESSAGES[20404])
            elif method == "POST" and len(parts) == 5 and parts[4] == "Messages.json":
                self._send(handler, body)
            elif method == "GET" and len(parts) == 5 and parts[4] == "Messages.json":
                self._list(handler, query)
            elif method == "GET" and len(parts) == 6 and parts[4] == "Messages":
                self._fetch(handler, parts[5].removesuffix(".json"))
            else:
                self._error(handler, "other", 404, 20404, ERROR_MESSAGES[20404])
        elif method == "GET" and len(parts) == 4 and parts[1:3] == ["v2", "PhoneNumbers"]:
            self._lookup(handler, unquote(parts[3]), query)
        else:
            self._error(handler, "other", 404, 20404, ERROR_MESSAGES[20404])

    def _send(self, handler: StandinHandler, body: bytes) -> None:
        error, delay = self._rules_for("send")
        if error is not None and not error.accept:
            self._rule_error(handler, "send", error)
            return
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        to = _first(form, "To")
        from_ = _first(form, "From") or None
        service = _first(form, "MessagingServiceSid") or None
        text = _first(form, "Body")
        callback = _first(form, "StatusCallback") or None
        if not to:
            self._error(handler, "send", 400, 21604, ERROR_MESSAGES[21604])
            return
        if not _E164.match(to):
            self._error(handler, "send", 400, 21211, f"The 'To' number {to} is not valid.")
            return
        if not from_ and not service:
            self._error(handler, "send", 400, 21603, ERROR_MESSAGES[21603])
            return
        if not text:
            self._error(handler, "send", 400, 21602, ERROR_MESSAGES[21602])
            return
        failure = self._number_failures.get(to)
        if failure is not None:
            status, code, message = failure
            self._error(handler, "send", status, code, message)
            return
        refused, later = self._send_outcome(to, from_, service)
        if refused is not None:
            self._error(handler, "send", 400, refused, ERROR_MESSAGES[refused])
            return
        validity = _first(form, "ValidityPeriod")
        if service and service in self.smart_encoding_services:
            # Smart Encoding rewrites look-alikes (twilio.com/docs/messaging/services).
            text = smart_encode(text)
        resource = self._accept(to, from_, service, text, callback)
        with self._lock:
            stored = self._messages[resource["sid"]]
            stored.fails_with = later
            if validity and validity.isdigit():
                stored.validity_period = int(validity)
        if error is not None:
            self._rule_error(handler, "send", error)
            return
        if delay:
            time.sleep(delay)
        self._count("send 201")
        handler.reply(201, json.dumps(resource).encode())

    def _accept(
        self, to: str, from_: str | None, service: str | None, text: str, callback: str | None
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        stamp = format_datetime(now)
        sid = "SM" + uuid.uuid4().hex
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        resource = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": text,
            "date_created": stamp,
            "date_sent": None,
            "date_updated": stamp,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            # With only a Messaging Service, Twilio picks the sender later: no From yet.
            "from": from_,
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": str(analyze(text).segments),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued" if from_ else "accepted",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": to,
            "uri": f"{uri}.json",
        }
        item = Received(
            sid=sid,
            to=to,
            from_=from_,
            messaging_service_sid=service,
            body=text,
            status_callback=callback,
            message_id=_message_id(callback),
            received_at=time.time(),
            received_monotonic=time.monotonic(),
        )
        with self._lock:
            self._messages[sid] = StoredMessage(resource, now, callback)
            self._by_to[to].append(sid)
            self._received.append(item)
        return resource

    def _list(self, handler: StandinHandler, query: str) -> None:
        error, delay = self._rules_for("list")
        if error is not None:
            self._rule_error(handler, "list", error)
            return
        params = parse_qs(query, keep_blank_values=True)
        to = _first(params, "To")
        from_ = _first(params, "From")
        try:
            page_size = max(1, min(int(_first(params, "PageSize") or 50), 1000))
            page = max(0, int(_first(params, "Page") or 0))
            sent_on = _first(params, "DateSent")
            after = _first(params, "DateSent>")
            before = _first(params, "DateSent<")
            bounds = [_parse_filter_date(v) if v else None for v in (sent_on, after, before)]
        except ValueError as exc:
            self._error(handler, "list", 400, 20001, f"Invalid parameter: {exc}")
            return
        with self._lock:
            sids = list(self._by_to.get(to, ())) if to else list(self._messages)
            # Newest first, as Twilio lists them.
            items = [(s.resource.copy(), s.sent) for s in map(self._messages.get, reversed(sids))]
        selected = []
        for resource, sent in items:
            if from_ and resource["from"] != from_:
                continue
            if any(bound is not None for bound in bounds):
                # Twilio filters on date_sent: a message still queued has none and is left out.
                if sent is None:
                    continue
                exact, after, before = bounds
                if exact is not None and sent.date() != _as_date(exact):
                    continue
                if after is not None and not _on_or_after(sent, after):
                    continue
                if before is not None and not _on_or_before(sent, before):
                    continue
            selected.append(resource)
        chunk = selected[page * page_size : (page + 1) * page_size]
        filters = [
            (key, value)
            for key, value in params.items()
            if key not in ("Page", "PageSize", "PageToken")
        ]

        def page_uri(number: int) -> str:
            pairs = [(key, value[0]) for key, value in filters]
            pairs += [("PageSize", str(page_size)), ("Page", str(number))]
            if number:
                pairs.append(("PageToken", f"PA{number}"))
            return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json?{urlencode(pairs)}"

        more = (page + 1) * page_size < len(selected)
        payload = {
            "end": page * page_size + max(len(chunk) - 1, 0),
            "first_page_uri": page_uri(0),
            "messages": chunk,
            "next_page_uri": page_uri(page + 1) if more else None,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": page_uri(page - 1) if page else None,
            "start": page * page_size,
            "uri": page_uri(page),
        }
        if delay:
            time.sleep(delay)
        self._count("list 200")
        handler.reply(200, json.dumps(payload).encode())

    def _fetch(self, handler: StandinHandler, sid: str) -> None:
        error, delay = self._rules_for("fetch")
        if error is not None:
            self._rule_error(handler, "fetch", error)
            return
        with self._lock:
            stored = self._messages.get(sid)
            resource = dict(stored.resource) if stored else None
        if resource is None:
            self._error(handler, "fetch", 404, 20404, ERROR_MESSAGES[20404])
            return
        if delay:
            time.sleep(delay)
        self._count("fetch 200")
        handler.reply(200, json.dumps(resource).encode())

    def _lookup(self, handler: StandinHandler, phone: str, query: str) -> None:
        error, delay = self._rules_for("lookup")
        if error is not None:
            self._rule_error(handler, "lookup", error)
            return
        params = parse_qs(query, keep_blank_values=True)
        fields = _first(params, "Fields") or ""
        last_verified = _first(params, "LastVerifiedDate")
        with self._lock:
            self._lookups.append(LookupAsked(phone, fields, last_verified))
            configured = self._reassigned.get(phone)
        if not _E164.match(phone):
            self._error(handler, "lookup", 404, 20404, ERROR_MESSAGES[20404])
            return
        reassigned = None
        if "reassigned_number" in fields.split(","):
            if not last_verified or not _LAST_VERIFIED.match(last_verified):
                # The stand-in's own answer: Twilio requires LastVerifiedDate as YYYYMMDD.
                self._error(handler, "lookup", 400, 20001, "LastVerifiedDate must be YYYYMMDD")
                return
            answer = configured or ReassignedAnswer(self.reassigned_default)
            reassigned = {
                "last_verified_date": (
                    f"{last_verified[:4]}-{last_verified[4:6]}-{last_verified[6:]}"
                ),
                "is_number_reassigned": answer.answer,
                # twilio-oai (twilio_lookups_v2): a package's error_code is a string.
                "error_code": None if answer.error_code is None else str(answer.error_code),
            }
        us = phone.startswith("+1")
        payload = {
            "calling_country_code": "1" if us else None,
            "country_code": "US" if us else None,
            "phone_number": phone,
            "national_format": (f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}" if us else phone),
            "valid": True,
            "validation_errors": [],
            "caller_name": None,
            "sim_swap": None,
            "call_forwarding": None,
            "live_activity": None,
            "line_type_intelligence": None,
            "identity_match": None,
            "reassigned_number": reassigned,
            "sms_pumping_risk": None,
            "phone_number_quality_score": None,
            "url": f"https://lookups.twilio.com/v2/PhoneNumbers/{phone}",
        }
        if delay:
            time.sleep(delay)
        self._count("lookup 200")
        handler.reply(200, json.dumps(payload).encode())

    #: Methods a benchmark in another process may call through `POST /_standin/configure`.
    CONTROL_ACTIONS = frozenset(
        {
            "fail_number",
            "clear_number",
            "fail_requests",
            "slow",
            "clear_rules",
            "down",
            "up",
            "set_reassigned",
            "deliver",
            "reset",
        }
    )

    def _control(self, handler: StandinHandler, method: str, path: str, body: bytes) -> None:
        """Out-of-process steering for benchmarks (not part of Twilio's API).

        GET /_standin/stats, GET /_standin/received, POST /_standin/reset,
        POST /_standin/configure {"action": "fail_requests", "args": [429], "kwargs": {...}}.
        """
        if method == "GET" and path == "/_standin/stats":
            received = self.received
            payload: Any = {
                "accepted": len(received),
                "numbers": len({item.to for item in received}),
                "duplicates": len(self.duplicates()),
                "requests": dict(self.requests),
            }
        elif method == "GET" and path == "/_standin/received":
            payload = [asdict(item) for item in self.received]
        elif method == "POST" and path == "/_standin/reset":
            self.reset()
            payload = {"ok": True}
        elif method == "POST" and path == "/_standin/configure":
            try:
                command = json.loads(body or b"{}")
                action = command["action"]
                if action not in self.CONTROL_ACTIONS:
                    raise ValueError(f"unknown action {action!r}")
                result = getattr(self, action)(
                    *command.get("args", []), **command.get("kwargs", {})
                )
            except (KeyError, TypeError, ValueError) as exc:
                handler.reply(400, json.dumps({"error": str(exc)}).encode())
                return
            payload = {"ok": True, "result": result}
        else:
            handler.reply(404, b'{"error": "unknown control path"}')
            return
        handler.reply(200, json.dumps(payload).encode())
