"""Outbound webhooks are signed: the partner's check passes for what we send and nothing else."""

import json
import time

import pytest

from messaging.models import WebhookDelivery
from messaging.partner_webhook_delivery import webhook_deliver_due
from messaging.partner_webhooks import sign, verify_signature, webhook_emit

pytestmark = pytest.mark.django_db
# The loopback receiver and its fixtures: receiver, subscribe, webhook_settings.
pytest_plugins = ["tests.messaging.webhook_receiver"]

SECRET = "a" * 64
BODY = b'{"id":"e1","type":"consent.opted_out","occurred_at":"2025-01-31T14:03:07+00:00","data":{}}'


def test_it_signs_what_it_sends_and_the_partner_check_verifies_it(receiver, subscribe):
    _, secret = subscribe(events=["consent.opted_out"])

    written = webhook_emit(event_type="consent.opted_out", data={"phone": "+14155552671"})
    report = webhook_deliver_due()

    assert (written, report.delivered) == (1, 1)
    (request,) = receiver.requests
    delivery = WebhookDelivery.objects.get()
    assert verify_signature(secret, request.headers["X-SMS-Signature"], request.body)
    assert request.headers["X-SMS-Event"] == "consent.opted_out"
    assert request.headers["X-SMS-Delivery"] == str(delivery.pk)
    assert request.headers["Content-Type"] == "application/json"
    payload = json.loads(request.body)
    assert payload["id"] == str(delivery.event_id)
    assert payload["type"] == "consent.opted_out"
    assert payload["data"] == {"phone": "+14155552671"}
    assert payload["occurred_at"]


def test_it_verifies_a_fresh_signature():
    header = sign(SECRET, BODY, int(time.time()))

    assert header.startswith("t=") and ",v1=" in header
    assert verify_signature(SECRET, header, BODY)
    assert verify_signature(SECRET, header, BODY.decode())


def test_it_refuses_a_tampered_body():
    header = sign(SECRET, BODY, int(time.time()))

    assert not verify_signature(SECRET, header, BODY.replace(b"opted_out", b"opted_in"))


def test_it_refuses_another_secret():
    header = sign(SECRET, BODY, int(time.time()))

    assert not verify_signature("b" * 64, header, BODY)


def test_it_refuses_an_old_timestamp_even_when_the_signature_matches():
    sent = int(time.time()) - 301
    header = sign(SECRET, BODY, sent)

    assert not verify_signature(SECRET, header, BODY)
    assert verify_signature(SECRET, header, BODY, tolerance=600)


def test_it_refuses_a_timestamp_swapped_into_a_valid_signature():
    now = int(time.time())
    old_header = sign(SECRET, BODY, now - 3600)
    forged = f"t={now}," + old_header.split(",", 1)[1]

    assert not verify_signature(SECRET, forged, BODY)


@pytest.mark.parametrize(
    "header", ["", "garbage", "t=abc,v1=00", "v1=00", "t={now}", "t={now},v1="]
)
def test_it_refuses_a_malformed_header(header):
    assert not verify_signature(SECRET, header.format(now=int(time.time())), BODY)
