"""Clicks (human and bot) and conversions count on their message's day and dimensions, where
they are stored, and a rebuild from the raw tables gives the same counts."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from messaging import counters
from messaging.models import DailyCount
from messaging.services import message_queue
from tests.factories import create_contact, create_program, create_sender, hand_off, opt_in

pytestmark = pytest.mark.django_db

PHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148 Safari/604.1"
PHONE = "+14155552671"


@pytest.fixture(autouse=True)
def _domains(settings):
    settings.SMS_LINK_DOMAIN = "go.acme.example"
    settings.SMS_ALLOWED_LINK_DOMAINS = ["acme.example"]


def sums(*metrics: str) -> dict[tuple, int]:
    rows = (
        DailyCount.objects.filter(metric__in=metrics)
        .values_list("day", "scope", "key", "metric")
        .annotate(n=Sum("count"))
    )
    totals: dict[tuple, int] = defaultdict(int)
    for day, scope, key, metric, n in rows:
        totals[(day, scope, key, metric)] += n
    return dict(totals)


def test_clicks_and_orders_are_counted_where_they_happen_and_rebuilt_alike(partner_api):
    program = create_program("offers", link_tracking=True)
    sender = create_sender(program)
    contact = create_contact(phone=PHONE)
    opt_in(contact, program)
    message = message_queue(
        contact=contact,
        program=program,
        body="Acme: https://shop.acme.example/boots STOP to opt out",
        kind="api",
    )
    sent = timezone.now() - timedelta(days=1, hours=2)
    message = hand_off(message, at=sent)
    code = message.body.split("go.acme.example/")[1].split()[0]
    browser = Client()
    assert (
        browser.get(f"/{code}", HTTP_HOST="go.acme.example", HTTP_USER_AGENT=PHONE_UA).status_code
        == 302
    )
    assert browser.head(f"/{code}", HTTP_HOST="go.acme.example").status_code == 302  # a bot
    api = partner_api(["events:write"])
    order = {"order_id": "A-1", "value": "49.90", "currency": "usd"}
    answer = api.post(
        "/api/v1/events/",
        {"type": "conversion.recorded", "phone": PHONE, "data": order},
        format="json",
    )
    assert answer.status_code == 202

    metrics = ("clicks_human", "clicks_bot", "conversions", "revenue_micros")
    incremental = sums(*metrics)
    day = counters.utc_day(sent)
    for scope, key in (("program", program.pk), ("sender", sender.pk)):
        assert incremental[(day, scope, key, "clicks_human")] == 1
        assert incremental[(day, scope, key, "clicks_bot")] == 1
        assert incremental[(day, scope, key, "conversions")] == 1
        assert incremental[(day, scope, key, "revenue_micros")] == 49_900_000
    counters.rebuild()
    assert sums(*metrics) == incremental


def test_an_erasure_blanks_the_ip_and_user_agent_of_the_persons_clicks():
    from consent.services import contact_erase
    from messaging.models import Click

    program = create_program("offers", link_tracking=True)
    create_sender(program)
    contact = create_contact(phone=PHONE)
    opt_in(contact, program)
    message = message_queue(
        contact=contact,
        program=program,
        body="Acme: https://shop.acme.example/boots STOP to opt out",
        kind="api",
    )
    code = hand_off(message).body.split("go.acme.example/")[1].split()[0]
    Client().get(f"/{code}", HTTP_HOST="go.acme.example", HTTP_USER_AGENT=PHONE_UA)
    click = Click.objects.get()
    assert (click.ip, click.user_agent) == ("127.0.0.1", PHONE_UA)

    contact_erase(contact=contact, request_ref="GDPR-1")

    click.refresh_from_db()
    assert (click.ip, click.user_agent) == (None, "")
