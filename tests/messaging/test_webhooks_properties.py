"""Property-based: whatever signed parameters Twilio (or someone holding our token) sends, both
webhooks answer below 500, and a replay of the same request changes nothing."""

from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.models import ConsentConfirmation, ConsentEvent, ConsentState, Contact, Suppression
from messaging.models import (
    Conversation,
    InboundMessage,
    MessageEvent,
    OperatorAlert,
    OutboundMessage,
    RevocationReview,
    StatusCallback,
)
from messaging.services import message_queue
from tests.factories import create_contact, opt_in

from .twilio_helpers import (
    INBOUND_PATH,
    OUR_NUMBER,
    PUBLIC_BASE_URL,
    STATUS_PATH,
    inbound_params,
    new_sid,
    sign,
    status_params,
)

pytestmark = pytest.mark.django_db

PROPERTIES = settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Any character a form post can carry (UTF-8 has no lone surrogates), NUL and controls included.
_chars = st.characters(blacklist_categories=("Cs",))
_text = st.text(_chars, max_size=40)
_numbers = st.integers(min_value=-(10**40), max_value=10**40).map(str)
_long = st.text(_chars, min_size=60, max_size=1500)
_words = st.sampled_from(
    [
        "STOP", "stop\x00", "HELP", "START", "YES", "not interested", "stop texting me",
        "delivered", "failed", "undelivered", "sent", "read", "partially_delivered",
        "30007", "21610", "0", "-1", "", " ", "+14155550123", "4155550123", "ACMEBANK",
        OUR_NUMBER, "+18335550199",
    ]
)  # fmt: skip
_values = st.one_of(_words, _text, _numbers, _long)
_keys = st.one_of(
    st.sampled_from(
        [
            "Body", "From", "To", "MessageSid", "SmsSid", "MessageStatus", "SmsStatus",
            "ErrorCode", "MessagingServiceSid", "OptOutType", "NumMedia", "AccountSid",
        ]
    ),
    st.text(_chars, min_size=1, max_size=20),
)  # fmt: skip
_overrides = st.dictionaries(_keys, _values, max_size=8)
_dropped = st.sets(st.sampled_from(["MessageSid", "SmsSid", "From", "To", "MessageStatus"]))


def post(client: Client, path: str, params: dict[str, str]):
    """Form-encoded and signed over the public URL, exactly as Twilio posts."""
    return client.post(
        path,
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=sign(PUBLIC_BASE_URL + path, params),
    )


def snapshot() -> dict[str, object]:
    """Everything a webhook may write, counted (and the alerts' own counters)."""
    models = [
        InboundMessage, StatusCallback, OutboundMessage, MessageEvent, ConsentEvent,
        ConsentState, ConsentConfirmation, Suppression, Contact, Conversation, RevocationReview,
    ]  # fmt: skip
    counts: dict[str, object] = {m.__name__: m.objects.count() for m in models}
    counts["alerts"] = sorted(OperatorAlert.objects.values_list("subject", "count"))
    counts["states"] = sorted(ConsentState.objects.values_list("pk", "status"))
    counts["messages"] = sorted(OutboundMessage.objects.values_list("pk", "status", "error_code"))
    return counts


def assert_handled_once(client: Client, path: str, params: dict[str, str]) -> None:
    first = post(client, path, params)
    assert first.status_code < 500
    assert first.status_code != 403, "the test's signing must match the view's"
    before = snapshot()

    again = post(client, path, params)

    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert snapshot() == before


@pytest.fixture
def subscriber(sender, offers, alerts):
    contact = create_contact()
    opt_in(contact, offers)
    opt_in(contact, alerts)
    return contact


@PROPERTIES
@given(overrides=_overrides, dropped=_dropped, from_known=st.booleans())
def test_it_never_fails_on_any_signed_inbound_message(subscriber, overrides, dropped, from_known):
    base = inbound_params("STOP", from_=subscriber.phone if from_known else "+14155550123")
    params = {k: v for k, v in base.items() if k not in dropped} | overrides

    assert_handled_once(Client(), INBOUND_PATH, params)


@PROPERTIES
@given(overrides=_overrides, dropped=_dropped, known_sid=st.booleans())
def test_it_never_fails_on_any_signed_status_callback(
    subscriber, offers, overrides, dropped, known_sid
):
    message = message_queue(contact=subscriber, program=offers, body="Sale!", kind="api")
    sid = new_sid()
    OutboundMessage.objects.filter(pk=message.pk).update(
        status="sent", provider_sid=sid, sent_at=timezone.now()
    )
    base = status_params(sid if known_sid else new_sid(), "failed", to=subscriber.phone)
    params = {k: v for k, v in base.items() if k not in dropped} | overrides

    assert_handled_once(Client(), STATUS_PATH, params)
