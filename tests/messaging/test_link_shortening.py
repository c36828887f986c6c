"""Tracked links: every send path replaces allowed links with per-recipient short links, and the
editor's and the API preview's segment counts use the shortened length."""

from __future__ import annotations

import re

import pytest
from django.db import connection

from campaigns.fanout import fanout_all
from messaging import links
from messaging.conversations import conversation_reply
from messaging.models import Conversation, InboundMessage, OutboundMessage, TrackedLink
from messaging.services import message_send
from templates.admin import analysis_payload
from templates.encoding import analyze
from templates.links import PREVIEW_CODE_LENGTH, shortened_for_count, tracked_links
from tests.campaigns.flow_helpers import fire, make_flow, subscriber
from tests.factories import (
    create_approved_version,
    create_campaign,
    create_contact,
    create_program,
    create_sender,
    create_template,
    opt_in,
    support_agent,
)

pytestmark = pytest.mark.django_db

LONG = "https://shop.acme.example/collections/winter-sale/boots-and-jackets?ref=sms-december"
BODY = (
    f"Acme: hi {{first_name|there}}, winter sale on now: {LONG} Boots and jackets up to 40% "
    "off, this weekend only. Reply STOP to opt out"
)
SHORT = re.compile(r"https://go\.acme\.example/([0-9a-fz]+)")


@pytest.fixture(autouse=True)
def _domains(settings):
    settings.SMS_LINK_DOMAIN = "go.acme.example"
    settings.SMS_ALLOWED_LINK_DOMAINS = ["acme.example"]


@pytest.fixture
def program():
    program = create_program("offers", link_tracking=True)
    create_sender(program)
    return program


def short_codes(body: str) -> list[str]:
    return SHORT.findall(body)


def assert_resolves(message: OutboundMessage, destination: str = LONG) -> TrackedLink:
    [code] = short_codes(message.body)
    message_id, link_id = links.parse_code(code)
    assert message_id == message.pk
    link = TrackedLink.objects.get(pk=link_id)
    assert link.destination == destination
    assert LONG not in message.body
    return link


def test_it_finds_only_whole_links_on_allowed_domains():
    body = (
        "a https://acme.example/x, b https://evil.example/y c https://go.acme.example/abc "
        "d https://shop.acme.example/p/{attr.id} e http://www.acme.example/z."
    )
    found = [body[s:e] for s, e in tracked_links(body, ["acme.example"], "go.acme.example")]
    assert found == ["https://acme.example/x", "http://www.acme.example/z"]


@pytest.mark.postgres
def test_it_shortens_per_recipient_in_campaign_fanout_on_postgresql(program):
    check_fanout(program)


def test_it_shortens_per_recipient_in_campaign_fanout_on_any_database(program, monkeypatch):
    # The Python fill-in SQLite uses (no sha256 in SQL) makes the same codes.
    monkeypatch.setattr(connection, "vendor", "sqlite")
    check_fanout(program)


def check_fanout(program):
    campaign = create_campaign(program, bodies=[BODY, BODY.replace("sale on now", "ends Sunday")])
    people = [create_contact(first_name=f"P{i}") for i in range(6)]
    for person in people:
        opt_in(person, program)
    assert fanout_all(campaign) == 6
    messages = list(OutboundMessage.objects.filter(campaign=campaign))
    codes = set()
    for message in messages:
        link = assert_resolves(message)
        assert (link.campaign_id, link.variant_id) == (campaign.pk, message.variant_id)
        codes |= set(short_codes(message.body))
        assert message.body.startswith(f"Acme: hi {message.contact.first_name}, ")
    assert len(codes) == 6
    assert TrackedLink.objects.count() == 2  # one per variant, not one per recipient


def test_it_leaves_campaign_links_alone_when_the_campaign_says_no(program):
    campaign = create_campaign(program, bodies=[BODY], link_tracking=False)
    opt_in(create_contact(), program)
    fanout_all(campaign)
    assert LONG in OutboundMessage.objects.get().body
    assert not TrackedLink.objects.exists()


def test_it_shortens_in_an_api_send(program):
    version = create_approved_version(create_template(program), body=BODY)
    opt_in(create_contact(phone="+14155550100"), program)
    message = message_send(
        phone="(415) 555-0100", program=program, template_version=version, context={}
    )
    assert message.status == "queued"
    message.refresh_from_db()
    assert_resolves(message)
    assert (message.segments, message.encoding) == (1, "GSM-7")
    assert analyze(BODY.replace("{first_name|there}", "there")).segments == 2


def test_it_shortens_in_a_flow(program):
    flow = make_flow(program, body=BODY, trigger="order.shipped")
    _, [run] = fire(subscriber(program), type="order.shipped")
    link = assert_resolves(OutboundMessage.objects.get(pk=run.message_id))
    assert link.flow_id == flow.pk


def test_it_shortens_in_an_agent_reply(program):
    contact = create_contact()
    opt_in(contact, program)
    sender = program.senders.get()
    InboundMessage.objects.create(
        provider_sid="SM1", from_number=contact.phone, to_number=sender.phone_number,
        body="Where are the boots?", contact=contact, sender=sender,
    )  # fmt: skip
    conversation = Conversation.objects.create(contact=contact, sender=sender)
    message = conversation_reply(
        conversation=conversation, body=f"Here: {LONG}", by=support_agent()
    )
    message.refresh_from_db()
    assert_resolves(message)


def test_it_sends_links_as_written_when_the_program_does_not_track(program):
    program.link_tracking = False
    program.save(update_fields=["link_tracking"])
    version = create_approved_version(create_template(program), body=BODY)
    message = message_send(
        phone="+14155550101", program=program, template_version=version, context={}
    )
    assert LONG in message.body
    assert not TrackedLink.objects.exists()


def test_the_editor_and_the_api_preview_count_the_shortened_length(program, partner_api):
    template = create_template(program)
    body = BODY.replace("{first_name|there}", "there")
    expected = shortened_for_count(body, ["acme.example"], "go.acme.example")
    assert expected.count("x" * PREVIEW_CODE_LENGTH) == 1
    payload = analysis_payload(body, template_id=template.pk)
    assert (payload["segments"], analyze(expected).segments, analyze(body).segments) == (1, 1, 2)
    assert analysis_payload(body)["segments"] == 2  # no template: no program, links as written

    api = partner_api(["messages:send"])
    answer = api.post(
        "/api/v1/messages/preview/",
        {"body": body, "template": template.pk, "smart_encoding": True},
        format="json",
    ).json()
    assert answer["segments"] == 1


def test_the_launch_summary_counts_segments_with_short_links(program):
    from campaigns.launch import launch_summary

    body = BODY.replace("{first_name|there}", "there")
    tracked = create_campaign(program, bodies=[body])
    untracked = create_campaign(program, bodies=[body], link_tracking=False)
    opt_in(create_contact(), program)
    assert [v.segments for v in launch_summary(tracked).variants] == [1]
    assert [v.segments for v in launch_summary(untracked).variants] == [2]
