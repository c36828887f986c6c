"""A `conversion.recorded` event is an order: counted once, credited to the last human click
within the click window, else to the last delivered message within the view window."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.fanout import fanout_all
from campaigns.models import FlowEvent
from messaging.links import link_for
from messaging.models import Click, Conversion, OutboundMessage
from tests.factories import create_campaign, create_contact, create_program, hand_off, opt_in

pytestmark = pytest.mark.django_db

URL = "/api/v1/events/"
PHONE = "+14155552671"
BODY = "Acme: boots 40% off https://shop.acme.example/boots Reply STOP to opt out"


@pytest.fixture(autouse=True)
def _domains(settings):
    settings.SMS_LINK_DOMAIN = "go.acme.example"
    settings.SMS_ALLOWED_LINK_DOMAINS = ["acme.example"]
    settings.SMS_CONVERSION_CLICK_WINDOW_DAYS = 5
    settings.SMS_CONVERSION_VIEW_WINDOW_HOURS = 24


@pytest.fixture
def api(partner_api):
    return partner_api(["events:write"])


@pytest.fixture
def program():
    return create_program("offers", link_tracking=True)


@pytest.fixture
def person(program):
    contact = create_contact(phone=PHONE)
    opt_in(contact, program)
    return contact


def campaign_message(program, person, *, delivered_ago: timedelta, name: str = "Sale"):
    campaign = create_campaign(program, bodies=[BODY], name=name)
    fanout_all(campaign)
    message = OutboundMessage.objects.get(campaign=campaign, contact=person)
    return hand_off(message, at=timezone.now() - delivered_ago)


def click(message, *, ago: timedelta, bot_reason: str = "") -> Click:
    link = link_for(message.program, "https://shop.acme.example/boots", campaign=message.campaign)
    return Click.objects.create(
        link=link,
        message=message,
        contact_id=message.contact_id,
        campaign_id=message.campaign_id,
        variant_id=message.variant_id,
        clicked_at=timezone.now() - ago,
        bot_reason=bot_reason,
    )


def order(api, order_id="A-1001", **data):
    body = {
        "type": "conversion.recorded",
        "phone": "(415) 555-2671",
        "data": {"order_id": order_id, "value": "49.90", "currency": "usd"} | data,
    }
    return api.post(URL, body, format="json")


def test_it_credits_the_last_human_click_within_the_click_window(api, program, person):
    older = campaign_message(program, person, delivered_ago=timedelta(days=4), name="Old")
    newer = campaign_message(program, person, delivered_ago=timedelta(hours=2), name="New")
    human = click(older, ago=timedelta(days=3))
    click(newer, ago=timedelta(hours=1), bot_reason="user_agent")  # a preview: not a person

    response = order(api)

    assert response.status_code == 202
    assert response.json()["conversion"] == {
        "order_id": "A-1001",
        "counted": True,
        "attribution": "click",
        "campaign_id": older.campaign_id,
        "message_id": older.pk,
    }
    conversion = Conversion.objects.get()
    assert (conversion.click, conversion.value, conversion.currency) == (
        human,
        Decimal("49.90"),
        "USD",
    )
    assert (conversion.variant_id, conversion.program_id) == (older.variant_id, program.pk)


def test_a_click_older_than_the_window_falls_back_to_the_last_delivered_message(
    api, program, person
):
    old = campaign_message(program, person, delivered_ago=timedelta(days=7), name="Old")
    click(old, ago=timedelta(days=6))
    recent = campaign_message(program, person, delivered_ago=timedelta(hours=20), name="New")

    order(api)

    conversion = Conversion.objects.get()
    assert (conversion.attribution, conversion.message_id, conversion.click) == (
        "view",
        recent.pk,
        None,
    )
    assert conversion.campaign_id == recent.campaign_id


def test_nothing_in_either_window_is_counted_but_credited_to_nothing(api, program, person):
    campaign_message(program, person, delivered_ago=timedelta(hours=30))
    order(api)
    conversion = Conversion.objects.get()
    assert (conversion.attribution, conversion.message_id, conversion.campaign_id) == (
        "none",
        None,
        None,
    )


def test_the_windows_are_settings(settings, api, program, person):
    settings.SMS_CONVERSION_VIEW_WINDOW_HOURS = 48
    message = campaign_message(program, person, delivered_ago=timedelta(hours=30))
    order(api)
    assert Conversion.objects.get().message_id == message.pk


def test_an_order_id_counts_once(api, program, person):
    message = campaign_message(program, person, delivered_ago=timedelta(hours=1))
    first = order(api)
    again = order(api, value="99.00")

    assert first.json()["conversion"]["counted"] is True
    assert again.status_code == 202
    assert again.json()["conversion"] == first.json()["conversion"] | {"counted": False}
    conversion = Conversion.objects.get()
    assert (conversion.value, conversion.message_id) == (Decimal("49.90"), message.pk)
    assert FlowEvent.objects.filter(type="conversion.recorded").count() == 2


@pytest.mark.parametrize(
    "data",
    [
        {"order_id": ""},
        {"order_id": None},
        {"value": "-1"},
        {"value": "lots"},
        {"value": True},
        {"currency": "dollars"},
        {"currency": None},
    ],
)
def test_a_bad_conversion_is_refused_and_writes_nothing(api, person, data):
    response = order(api, **data)
    assert response.status_code == 400
    assert "data" in response.json()["fields"]
    assert not Conversion.objects.exists()
    assert not FlowEvent.objects.exists()
