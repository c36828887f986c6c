"""A local stand-in for the parts of Twilio's REST API this project calls, on 127.0.0.1.

Tests and benchmarks drive the real `twilio` library against it (never mocks of our own code):
point `TWILIO_API_BASE_URL` and `TWILIO_LOOKUP_BASE_URL` at `standin.url` and use its account
SID and auth token (`standin.django_settings()` has all four).

What it answers, in Twilio's shapes:

- `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (To, From and/or MessagingServiceSid,
  Body, StatusCallback): 201 and the Message resource ("SM" + 32 hex, status `queued`, or
  `accepted` when only a Messaging Service was given, as Twilio does); errors as HTTP 4xx/5xx
  with `{"code", "message", "more_info", "status"}`.
- `GET .../Messages.json?To=&From=&DateSent>=&DateSent<=&PageSize=&Page=` (newest first, Twilio's
  paging keys) and `GET .../Messages/{Sid}.json`.
- `GET /v2/PhoneNumbers/{E164}?Fields=reassigned_number&LastVerifiedDate=YYYYMMDD` (Lookup v2).
- HTTP basic auth (account SID + auth token) on every provider path.

What real Twilio does around messages (keyword handling before the webhook, blocked pairs,
late failures by status callback, ValidityPeriod expiry, prices after sending, every
signature set-up) lives in tests/standin/twilio_behaviour.py.

What a test can make it do, thread-safely, while it runs: fail one destination with an error
code (`fail_number`), answer 429/5xx for the next N sends or for a while (`fail_requests`),
answer slowly (`slow`), stop answering at all (`down("refused" | "hang")` / `up()`), answer a
reassigned-number query (`set_reassigned`), and post a signed status callback (`deliver`).

What it records: every accepted message (`received`: SID, To, Body, our message id taken from the
StatusCallback's `mid` query parameter, wall-clock and monotonic receive times), counts per
number, duplicates per message id, lookups asked, and a counter of every request by outcome.

Run on its own for benchmarks: `python -m tests.standin.twilio_standin --port 8089`; a
benchmark in another process reads and steers it through `/_standin/...` (see
`TwilioApi._control` in twilio_api.py).

Performance: one thread per keep-alive connection (HTTP/1.1, exact Content-Length, Nagle off,
the whole response in one write) and lean handlers, so the client's pooled connections are reused;
it answers a few thousand requests per second on two cores.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

from twilio.request_validator import RequestValidator

from .twilio_api import (
    API_VERSION,
    ERROR_MESSAGES,
    REASSIGNED_ANSWERS,
    LookupAsked,
    ReassignedAnswer,
    Received,
    Rule,
    Scope,
    StandinServer,
    StoredMessage,
    TwilioApi,
)
from .twilio_behaviour import TwilioBehaviour

DEFAULT_ACCOUNT_SID = "AC" + "f00dfeed" * 4
DEFAULT_AUTH_TOKEN = "c0ffee00" * 4

__all__ = ["DEFAULT_ACCOUNT_SID", "DEFAULT_AUTH_TOKEN", "Received", "TwilioStandin", "main"]


class TwilioStandin(TwilioBehaviour, TwilioApi):
    """The stand-in server. `start()` it (or use it as a context manager), `stop()` it after.

    Every configuration method is safe to call from the test's thread while requests run.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
    ) -> None:
        self.host = host
        self._port = port
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._expected_auth = "Basic " + base64.b64encode(
            f"{account_sid}:{auth_token}".encode()
        ).decode("ascii")
        self._lock = threading.Lock()
        self._server: StandinServer | None = None
        self._connections: set[socket.socket] = set()
        self._release = threading.Event()
        self._mode: Literal["refused", "hang"] | None = None
        self._up_timer: threading.Timer | None = None
        self._stopped = False
        #: Answer for numbers without `set_reassigned`.
        self.reassigned_default: str = "no_data_available"
        #: How long a request waits in "hang" mode before the connection is dropped unanswered.
        self.hang_seconds: float = 30.0
        #: The number a Messaging Service "picks" once a message it accepted moves on.
        self.service_number: str = "+18335550999"
        self.reset()

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> TwilioStandin:
        """Listen (on an ephemeral port unless one was given) and serve in a daemon thread."""
        self._stopped = False
        if self._server is None:
            self._serve()
        return self

    def stop(self) -> None:
        """Stop listening, drop every open connection and release hanging requests."""
        self._stopped = True
        self._cancel_timer()
        self._release.set()
        self._close_server()

    def __enter__(self) -> TwilioStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """Base URL for both the Messages API and Lookup, e.g. `http://127.0.0.1:54321`."""
        return f"http://{self.host}:{self._port}"

    def django_settings(self) -> dict[str, str]:
        """The settings that point `TwilioBackend` and the Lookup checker here."""
        return {
            "TWILIO_ACCOUNT_SID": self.account_sid,
            "TWILIO_AUTH_TOKEN": self.auth_token,
            "TWILIO_API_BASE_URL": self.url,
            "TWILIO_LOOKUP_BASE_URL": self.url,
        }

    def reset(self) -> None:
        """Forget messages, logs and every configured behaviour (the server keeps running)."""
        with self._lock:
            self._messages: dict[str, StoredMessage] = {}
            self._by_to: dict[str, list[str]] = defaultdict(list)
            self._received: list[Received] = []
            self._number_failures: dict[str, tuple[int, int, str]] = {}
            self._rules: list[Rule] = []
            self._reassigned: dict[str, ReassignedAnswer] = {}
            self._lookups: list[LookupAsked] = []
            #: Every provider request by outcome, e.g. `{"send 201": 10, "send 429": 2}`.
            self.requests: Counter[str] = Counter()
            self.reset_behaviour()

    # --- behaviours ---------------------------------------------------------------------------

    def fail_number(
        self, to: str, code: int, *, status: int = 400, message: str | None = None
    ) -> None:
        """Answer every send to `to` with this Twilio error (e.g. 21610) until `clear_number`."""
        text = message or ERROR_MESSAGES.get(code, f"Error {code}")
        with self._lock:
            self._number_failures[to] = (status, code, text)

    def clear_number(self, to: str) -> None:
        with self._lock:
            self._number_failures.pop(to, None)

    def fail_requests(
        self,
        status: int,
        *,
        count: int | None = None,
        seconds: float | None = None,
        retry_after: float | None = None,
        code: int | None = None,
        message: str | None = None,
        accept: bool = False,
        scope: Scope = "send",
    ) -> None:
        """Answer `status` (429, 500, 503...) to the next `count` requests and/or for `seconds`.

        Without either it lasts until `clear_rules()`. `retry_after` adds a Retry-After header.
        `accept=True` records the message first and still answers the error: Twilio took it
        but we were told it failed (the duplicate-send hazard). `scope="all"` covers lists and
        lookups too.
        """
        code = code or 20000 + status
        self._add_rule(
            Rule(
                kind="error",
                scope=scope,
                status=status,
                code=code,
                message=message or ERROR_MESSAGES.get(code, f"HTTP {status}"),
                retry_after=retry_after,
                accept=accept,
                remaining=count,
                until=None if seconds is None else time.monotonic() + seconds,
            )
        )

    def slow(
        self,
        delay: float,
        *,
        count: int | None = None,
        seconds: float | None = None,
        scope: Scope = "send",
    ) -> None:
        """Delay answers by `delay` seconds (next `count` requests and/or for `seconds`).

        A send is accepted and recorded *before* the wait: a client that times out does not
        know that Twilio has the message, which is what reconciliation must cope with.
        """
        self._add_rule(
            Rule(
                kind="slow",
                scope=scope,
                delay=delay,
                remaining=count,
                until=None if seconds is None else time.monotonic() + seconds,
            )
        )

    def clear_rules(self) -> None:
        with self._lock:
            self._rules = []

    def down(
        self, mode: Literal["refused", "hang"] = "refused", *, seconds: float | None = None
    ) -> None:
        """Stop answering: "refused" closes the listening socket (connection refused) and drops
        open connections; "hang" keeps accepting connections but never answers (timeouts).
        `seconds` brings it back up by itself.
        """
        if mode not in ("refused", "hang"):
            raise ValueError(f"unknown mode {mode!r}")
        self._cancel_timer()
        with self._lock:
            self._mode = mode
            self._release.clear()
        if mode == "refused":
            self._close_server()
        if seconds is not None:
            self._up_timer = threading.Timer(seconds, self.up)
            self._up_timer.daemon = True
            self._up_timer.start()

    def up(self) -> None:
        """Answer again (listening on the same port after "refused")."""
        self._cancel_timer()
        with self._lock:
            self._mode = None
            self._release.set()
        if self._server is None and not self._stopped:
            self._serve()

    def set_reassigned(
        self, phone: str, answer: str | None, *, error_code: int | None = None
    ) -> None:
        """Lookup's `is_number_reassigned` for `phone`: "yes", "no" or "no_data_available"
        (None with an `error_code`: Lookup could not answer, e.g. a non-US number)."""
        if answer is not None and answer not in REASSIGNED_ANSWERS:
            raise ValueError(f"answer must be one of {REASSIGNED_ANSWERS}")
        with self._lock:
            self._reassigned[phone] = ReassignedAnswer(answer, error_code)

    # --- what happened ------------------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        """Accepted messages in arrival order (a copy)."""
        with self._lock:
            return list(self._received)

    def received_for(self, to: str) -> list[Received]:
        return [item for item in self.received if item.to == to]

    def counts(self) -> Counter[str]:
        """Accepted messages per destination number."""
        return Counter(item.to for item in self.received)

    def duplicates(self) -> dict[Any, list[Received]]:
        """Messages accepted more than once: keyed by our message id when the callback URL
        carried one, else by (To, Body)."""
        groups: dict[Any, list[Received]] = defaultdict(list)
        for item in self.received:
            key = item.message_id if item.message_id is not None else (item.to, item.body)
            groups[key].append(item)
        return {key: items for key, items in groups.items() if len(items) > 1}

    @property
    def lookups(self) -> list[LookupAsked]:
        with self._lock:
            return list(self._lookups)

    def message(self, sid: str) -> dict[str, Any]:
        """The stored Message resource (a copy), as `GET .../Messages/{sid}.json` returns it."""
        with self._lock:
            return dict(self._messages[sid].resource)

    # --- status callbacks ---------------------------------------------------------------------

    def status_callback(
        self, sid: str, status: str, *, error_code: int | None = None
    ) -> tuple[str, dict[str, str], str]:
        """Move a message to `status` and build the callback Twilio would post for it.

        Returns (url, params, X-Twilio-Signature), the signature computed with the real
        `RequestValidator` over the StatusCallback URL exactly as we were given it. A test can
        post these with Django's test client instead of `deliver()`.
        """
        now = datetime.now(UTC)
        with self._lock:
            stored = self._messages[sid]
            resource = stored.resource
            resource["status"] = status
            if resource["from"] is None:
                resource["from"] = self.service_number
            resource["date_updated"] = format_datetime(now)
            if status in ("sent", "delivered", "undelivered", "read") and stored.sent is None:
                stored.sent = now
                resource["date_sent"] = format_datetime(now)
            if error_code is not None:
                resource["error_code"] = error_code
                resource["error_message"] = ERROR_MESSAGES.get(error_code)
            url = stored.status_callback or ""
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
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        return url, params, signature

    def deliver(
        self,
        sid: str,
        status: str = "delivered",
        *,
        error_code: int | None = None,
        post_to: str | None = None,
        timeout: float = 10.0,
    ) -> int:
        """Update the message and POST its signed status callback; returns the HTTP status.

        `post_to` (e.g. `live_server.url`) replaces the scheme and host the request goes to,
        while the signature stays computed over the public StatusCallback URL, as behind a
        proxy. An HTTP error answer is returned, not raised.
        """
        url, params, signature = self.status_callback(sid, status, error_code=error_code)
        if not url:
            raise ValueError(f"message {sid} was sent without a StatusCallback")
        target = url
        if post_to:
            base = urlsplit(post_to)
            target = urlunsplit(base[:2] + urlsplit(url)[2:])
        request = urllib.request.Request(  # noqa: S310 (a URL the test gave us)
            target,
            data=urlencode(params).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
                "User-Agent": "TwilioProxy/1.1",
                "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
            },
            method="POST",
        )
        # No proxies: a loopback callback must never leave the machine.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=timeout) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    # --- internals ----------------------------------------------------------------------------

    def _serve(self) -> None:
        server = StandinServer((self.host, self._port), self)
        self._port = server.server_address[1]
        self._server = server
        threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"twilio-standin-{self._port}",
            daemon=True,
        ).start()

    def _close_server(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already gone
                connection.shutdown(socket.SHUT_RDWR)

    def _cancel_timer(self) -> None:
        if self._up_timer is not None:
            self._up_timer.cancel()
            self._up_timer = None

    def _track(self, connection: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _add_rule(self, rule: Rule) -> None:
        with self._lock:
            self._rules = [*self._rules, rule]


def main(argv: list[str] | None = None) -> None:
    """Run the stand-in until interrupted, printing the settings that point at it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    options = parser.parse_args(argv)
    standin = TwilioStandin(
        host=options.host,
        port=options.port,
        account_sid=options.account_sid,
        auth_token=options.auth_token,
    ).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    for name, value in standin.django_settings().items():
        print(f"{name}={value}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
