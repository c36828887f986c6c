"""A partner's webhook endpoint on loopback: records what it gets, answers as it is told.

`receiver.answers` is a list of what to answer next, one item per request: a status code, or
`"timeout"` (answer only after the client gave up). When the list is empty it answers 200.
`receiver.on_request`, if set, is called in the server's thread before it answers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from messaging.partner_webhooks import webhook_subscription_create

#: Seconds the client waits in the tests; a "timeout" answer comes later than this.
CLIENT_TIMEOUT = 0.5


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    answers: list[int | str] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    on_request: Callable[[Received], None] | None = None
    url: str = ""

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received = Received(self.path, dict(self.headers), body)
                receiver.requests.append(received)
                if receiver.on_request is not None:
                    receiver.on_request(received)
                answer = receiver.answers.pop(0) if receiver.answers else 200
                if answer == "timeout":
                    time.sleep(CLIENT_TIMEOUT * 3)  # the client has gone: nothing to answer
                    return
                self.send_response(int(answer))
                if 300 <= int(answer) < 400:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                reply = b"ok" if int(answer) < 300 else b"partner says no"
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/sms"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def webhook_settings(settings):
    """Loopback allowed (the receiver lives there), a short timeout, a small backoff."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    settings.WEBHOOK_TIMEOUT_SECONDS = CLIENT_TIMEOUT
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 30
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 100
    settings.WEBHOOK_MAX_ATTEMPTS = 8
    settings.WEBHOOK_MAX_CONSECUTIVE_FAILURES = 10
    return settings


@pytest.fixture
def receiver(webhook_settings) -> Iterator[Receiver]:
    started = Receiver().start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def subscribe(db, receiver):
    """`subscribe(events)`: a subscription of the receiver; returns (subscription, secret)."""

    def make(events=("consent.opted_out",), **fields):
        fields = {"name": "Helpdesk", "url": receiver.url} | fields
        return webhook_subscription_create(events=list(events), **fields)

    return make
