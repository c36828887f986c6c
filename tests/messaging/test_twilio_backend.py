"""The provider backends. TwilioBackend drives the real `twilio` library against the local
stand-in (tests/standin/twilio_standin.py); nothing here talks to Twilio or mocks our code."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest
from django.test import override_settings
from django.utils import timezone
from twilio.request_validator import RequestValidator

from messaging.providers import OutboundRequest, ProviderError, get_backend
from messaging.providers.console import ConsoleBackend
from messaging.providers.locmem import LocmemBackend
from messaging.providers.twilio import TwilioBackend, parse_retry_after, twilio_client
from tests.standin import fixtures
from tests.standin.twilio_standin import TwilioStandin

# Until tests/conftest.py imports them for the whole suite.
twilio_standin = fixtures.twilio_standin
locmem_sms = fixtures.locmem_sms

PUBLIC = "https://sms.acme.example"
OUR_NUMBER = "+18335550100"
SERVICE_SID = "MG" + "0a" * 16
SID = re.compile(r"^SM[0-9a-f]{32}$")


@pytest.fixture
def standin(twilio_standin: TwilioStandin):
    """The stand-in, with TwilioBackend's settings pointing at it."""
    with override_settings(
        **twilio_standin.django_settings(), PUBLIC_BASE_URL=PUBLIC, TWILIO_TIMEOUT=2.0
    ):
        yield twilio_standin


def request(message_id: int = 1, to: str = "+14155550101", body: str = "Hello", **kw):
    return OutboundRequest(
        message_id=message_id, to=to, body=body, **({"from_number": OUR_NUMBER} | kw)
    )


# --- sending ----------------------------------------------------------------------------------


def test_it_sends_and_returns_the_sid_twilio_gave(standin):
    result = TwilioBackend().send(request(message_id=7, to="+14155550107", body="Hi there"))

    [received] = standin.received
    assert SID.match(result.provider_sid)
    assert result.provider_sid == received.sid
    assert result.status == "queued"
    assert (received.to, received.from_, received.body) == ("+14155550107", OUR_NUMBER, "Hi there")
    assert received.messaging_service_sid is None
    assert standin.requests == {"send 201": 1}


def test_it_is_the_backend_named_twilio(standin):
    assert isinstance(get_backend("twilio"), TwilioBackend)


def test_it_sends_through_a_messaging_service_without_from(standin):
    result = TwilioBackend().send(
        request(from_number=None, messaging_service_sid=SERVICE_SID, body="Via service")
    )

    [received] = standin.received
    assert received.messaging_service_sid == SERVICE_SID
    assert received.from_ is None
    # Twilio says "accepted" until the service has picked a sender.
    assert result.status == "accepted"


def test_it_asks_for_status_callbacks_at_our_public_url_with_the_message_id(standin):
    TwilioBackend().send(request(message_id=4242))
    TwilioBackend().send(request(message_id=9, status_callback=f"{PUBLIC}/elsewhere/"))

    first, second = standin.received
    assert first.status_callback == f"{PUBLIC}/webhooks/twilio/status/?mid=4242"
    assert first.message_id == 4242
    assert second.status_callback == f"{PUBLIC}/elsewhere/"


@pytest.mark.parametrize(
    "body",
    [
        "Acme 🎉 20% off & free shipping = today +more",
        "Crème brûlée, señor? Ça va. 你好 👩🏽‍💻",
        "line one\r\nline two\nline three ",
        "  GSM extension: €[]{}|^~\\  ",
        "a=1&b=2%20c+d",
    ],
)
def test_it_sends_the_body_byte_exact(standin, body):
    result = TwilioBackend().send(request(body=body))

    [received] = standin.received
    assert received.body.encode("utf-8") == body.encode("utf-8")
    assert standin.message(result.provider_sid)["body"] == body


def test_it_authenticates_with_the_account_sid_and_token(standin):
    with (
        override_settings(TWILIO_AUTH_TOKEN="not-the-token"),
        pytest.raises(ProviderError) as caught,
    ):
        TwilioBackend().send(request())

    error = caught.value
    assert (error.http_status, error.code) == (401, 20003)
    # A credentials problem says nothing about the message: retry, do not fail the campaign.
    assert error.transient
    assert standin.received == []


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [21610, 21211, 21614, 30007])
def test_it_reports_a_permanent_error_with_twilios_code(standin, code):
    standin.fail_number("+14155550199", code)

    with pytest.raises(ProviderError) as caught:
        TwilioBackend().send(request(to="+14155550199"))

    error = caught.value
    assert not error.transient
    assert (error.code, error.http_status, error.retry_after) == (code, 400, None)
    assert standin.received == []


def test_it_reports_an_invalid_to_number_as_permanent_21211(standin):
    with pytest.raises(ProviderError) as caught:
        TwilioBackend().send(request(to="415-555-0100"))

    assert (caught.value.transient, caught.value.code) == (False, 21211)


def test_it_treats_429_as_transient_with_retry_after(standin):
    standin.fail_requests(429, count=1, retry_after=7)

    with pytest.raises(ProviderError) as caught:
        TwilioBackend().send(request(message_id=1))
    TwilioBackend().send(request(message_id=2))

    error = caught.value
    assert error.transient
    assert (error.http_status, error.retry_after) == (429, 7.0)
    assert [r.message_id for r in standin.received] == [2]


@pytest.mark.parametrize("status", [500, 503])
def test_it_treats_5xx_as_transient(standin, status):
    standin.fail_requests(status, seconds=30)

    with pytest.raises(ProviderError) as caught:
        TwilioBackend().send(request())

    error = caught.value
    assert error.transient
    assert error.http_status == status
    assert error.retry_after is None
    assert "may have been accepted" in str(error)


def test_it_forgets_a_retry_after_from_an_earlier_answer(standin):
    standin.fail_requests(429, count=1, retry_after=30)
    standin.fail_requests(503, count=2)
    with pytest.raises(ProviderError):
        TwilioBackend().send(request())

    with pytest.raises(ProviderError) as caught:
        TwilioBackend().send(request())

    assert (caught.value.http_status, caught.value.retry_after) == (503, None)


def test_it_treats_a_slow_answer_as_transient_and_find_sent_finds_the_message(standin):
    standin.slow(1.5, count=1)
    sent = request(message_id=5, body="Slow one")
    since = timezone.now()

    with override_settings(TWILIO_TIMEOUT=0.3), pytest.raises(ProviderError) as caught:
        TwilioBackend().send(sent)

    assert caught.value.transient
    assert "may have been accepted" in str(caught.value)
    # Twilio took it before answering late: reconciliation must find it, not send it again.
    [received] = standin.received
    found = TwilioBackend().find_sent(sent, since=since)
    assert found is not None and found.provider_sid == received.sid


def test_it_treats_a_provider_that_never_answers_as_transient(standin):
    standin.down("hang")

    with override_settings(TWILIO_TIMEOUT=0.3), pytest.raises(ProviderError) as caught:
        TwilioBackend().send(request())
    standin.up()
    TwilioBackend().send(request(message_id=2))

    assert caught.value.transient
    assert caught.value.http_status is None
    assert [r.message_id for r in standin.received] == [2]


def test_it_treats_connection_refused_as_transient_and_reconnects(standin):
    TwilioBackend().send(request(message_id=1))  # a pooled keep-alive connection exists now
    standin.down("refused")

    with pytest.raises(ProviderError) as caught:
        TwilioBackend().send(request(message_id=2))
    with pytest.raises(ProviderError):
        TwilioBackend().send(request(message_id=3))
    standin.up()
    TwilioBackend().send(request(message_id=4))

    assert caught.value.transient
    assert [r.message_id for r in standin.received] == [1, 4]


def test_it_reuses_one_client_per_settings(standin):
    client = twilio_client()
    with override_settings(TWILIO_TIMEOUT=1.0):
        other = twilio_client()

    assert twilio_client() is client
    assert other is not client
    assert other.http_client.timeout == 1.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), ("0.5", 0.5), ("", None), (None, None), ("soon", None), ("-3", 0.0)],
)
def test_it_reads_retry_after_seconds(header, seconds):
    assert parse_retry_after(header) == seconds


def test_it_reads_retry_after_as_an_http_date():
    now = timezone.now().replace(microsecond=0)
    header = (now + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")

    assert parse_retry_after(header, now=now) == 90.0


# --- find_sent --------------------------------------------------------------------------------


def test_it_finds_a_message_still_queued_at_twilio(standin):
    since = timezone.now()
    sent = request(message_id=11, to="+14155550111", body="Flash sale 🎉")
    result = TwilioBackend().send(sent)

    found = TwilioBackend().find_sent(sent, since=since)

    assert found is not None
    assert found.provider_sid == result.provider_sid
    assert standin.message(result.provider_sid)["date_sent"] is None


def test_it_finds_a_delivered_message(standin):
    since = timezone.now()
    sent = request(to="+14155550112", body="Delivered one")
    sid = TwilioBackend().send(sent).provider_sid
    standin.status_callback(sid, "delivered")

    found = TwilioBackend().find_sent(sent, since=since)

    assert found is not None and (found.provider_sid, found.status) == (sid, "delivered")


def test_it_finds_nothing_for_another_body_sender_number_or_an_older_message(standin):
    since = timezone.now()
    TwilioBackend().send(request(to="+14155550113", body="The real one"))

    backend = TwilioBackend()
    assert backend.find_sent(request(to="+14155550113", body="The real one!"), since=since) is None
    assert backend.find_sent(request(to="+14155550114", body="The real one"), since=since) is None
    assert (
        backend.find_sent(
            request(to="+14155550113", body="The real one", from_number="+18335550199"),
            since=since,
        )
        is None
    )
    later = since + timedelta(minutes=10)
    assert backend.find_sent(request(to="+14155550113", body="The real one"), since=later) is None


def test_it_matches_the_messaging_service(standin):
    since = timezone.now()
    via_service = request(
        to="+14155550115", body="Service", from_number=None, messaging_service_sid=SERVICE_SID
    )
    sid = TwilioBackend().send(via_service).provider_sid
    standin.status_callback(sid, "sent")  # the service picked a number from its pool
    assert standin.message(sid)["from"] == standin.service_number
    # Reconciliation may also name the sender's own number: the service decides.
    asked = request(to="+14155550115", body="Service", messaging_service_sid=SERVICE_SID)
    other_service = request(
        to="+14155550115", body="Service", from_number=None, messaging_service_sid="MG" + "1" * 32
    )

    assert TwilioBackend().find_sent(via_service, since=since).provider_sid == sid
    assert TwilioBackend().find_sent(asked, since=since).provider_sid == sid
    assert TwilioBackend().find_sent(other_service, since=since) is None


def test_it_reads_past_the_first_page(standin):
    since = timezone.now()
    first = request(message_id=1, to="+14155550116", body="The first")
    sid = TwilioBackend().send(first).provider_sid
    for n in range(2, 62):
        TwilioBackend().send(request(message_id=n, to="+14155550116", body=f"Later {n}"))

    found = TwilioBackend().find_sent(first, since=since)

    assert found is not None and found.provider_sid == sid
    assert standin.requests["list 200"] == 2


def test_it_returns_the_earliest_of_two_identical_messages(standin):
    since = timezone.now()
    sent = request(to="+14155550117", body="Twice")
    first = TwilioBackend().send(sent).provider_sid
    TwilioBackend().send(sent)

    assert TwilioBackend().find_sent(sent, since=since).provider_sid == first
    assert list(standin.duplicates()) == [1]


def test_it_raises_a_transient_error_when_twilio_cannot_say(standin):
    standin.fail_requests(503, count=1, scope="all")

    with pytest.raises(ProviderError) as caught:
        TwilioBackend().find_sent(request(), since=timezone.now())

    assert caught.value.transient
    assert caught.value.http_status == 503


# --- the stand-in's own promises --------------------------------------------------------------


def test_it_counts_a_message_accepted_behind_an_error_as_a_duplicate_when_retried(standin):
    standin.fail_requests(500, count=1, accept=True)

    with pytest.raises(ProviderError):
        TwilioBackend().send(request(message_id=31))
    TwilioBackend().send(request(message_id=31))

    assert standin.counts() == {"+14155550101": 2}
    assert [r.message_id for r in standin.duplicates()[31]] == [31, 31]
    first, second = standin.duplicates()[31]
    assert first.received_monotonic <= second.received_monotonic


def test_it_posts_a_signed_status_callback(standin):
    posted: list[tuple[str, dict[str, str], str]] = []

    class Catcher(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            params = dict(parse_qsl(self.rfile.read(length).decode()))
            posted.append((self.path, params, self.headers["X-Twilio-Signature"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    catcher = ThreadingHTTPServer(("127.0.0.1", 0), Catcher)
    threading.Thread(target=catcher.serve_forever, daemon=True).start()
    try:
        sid = TwilioBackend().send(request(message_id=77)).provider_sid
        status = standin.deliver(
            sid,
            "undelivered",
            error_code=30007,
            post_to=f"http://127.0.0.1:{catcher.server_address[1]}",
        )
    finally:
        catcher.shutdown()
        catcher.server_close()

    [(path, params, signature)] = posted
    public_url = f"{PUBLIC}/webhooks/twilio/status/?mid=77"
    assert status == 204
    assert path == "/webhooks/twilio/status/?mid=77"
    assert params["MessageSid"] == sid and params["MessageStatus"] == "undelivered"
    assert params["ErrorCode"] == "30007"
    assert RequestValidator(standin.auth_token).validate(public_url, params, signature)
    fetched = twilio_client().api.account.messages(sid).fetch()
    assert (fetched.status, fetched.error_code) == ("undelivered", 30007)


# --- console and locmem -----------------------------------------------------------------------


def test_it_prints_the_message_on_the_console(capsys):
    result = ConsoleBackend().send(request(message_id=3, to="+14155550103", body="Hi 🎉"))

    out = capsys.readouterr().out
    assert result.provider_sid.startswith("CONSOLE")
    assert "To: +14155550103" in out and "Hi 🎉" in out and result.provider_sid in out
    assert ConsoleBackend().find_sent(request(), since=timezone.now()) is None


def test_it_keeps_sent_messages_in_the_locmem_outbox(locmem_sms):
    backend = get_backend("locmem")
    first = backend.send(request(message_id=1, body="One"))
    second = backend.send(request(message_id=2, body="Two"))

    assert isinstance(backend, LocmemBackend)
    assert [m.body for m in locmem_sms.outbox] == ["One", "Two"]
    assert first.provider_sid != second.provider_sid
    assert SID.match(first.provider_sid)


def test_it_makes_the_next_locmem_sends_fail(locmem_sms):
    locmem_sms.fail_next(transient=False, code=21610)
    locmem_sms.fail_next(transient=True, retry_after=5, count=2)
    backend = LocmemBackend()

    outcomes = []
    for n in range(4):
        try:
            backend.send(request(message_id=n))
        except ProviderError as error:
            outcomes.append((error.transient, error.code, error.retry_after))
        else:
            outcomes.append("sent")

    assert outcomes == [(False, 21610, None), (True, None, 5), (True, None, 5), "sent"]
    assert [m.request.message_id for m in locmem_sms.outbox] == [3]


def test_it_finds_a_locmem_message_by_id(locmem_sms):
    since = timezone.now()
    sid = LocmemBackend().send(request(message_id=8)).provider_sid

    assert LocmemBackend().find_sent(request(message_id=8), since=since).provider_sid == sid
    assert LocmemBackend().find_sent(request(message_id=9), since=since) is None
    later = since + timedelta(minutes=1)
    assert LocmemBackend().find_sent(request(message_id=8), since=later) is None
