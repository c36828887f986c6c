"""Tracked links: every send path replaces allowed links with per-recipient short links, and the
editor's and the API preview's segment counts use the shortened length."""

from __future__ import annotations

import re

import pytest

from campaigns.fanout import fanout_all
from consent.services import consent_revoke
from messaging import links
from messaging.conversations import conversation_reply
from messaging.dispatch import Dispatcher
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
def _domains(settings, no_quiet_hours):
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


def sent(message: OutboundMessage) -> OutboundMessage:
    """Dispatch what is due, then the message as stored."""
    Dispatcher().run_batch()
    message.refresh_from_db()
    assert message.status == "sent"
    return message


def test_it_shortens_per_recipient_when_a_campaign_hands_off(program, locmem_sms):
    campaign = create_campaign(
        program, bodies=[BODY, BODY.replace("sale on now", "ends Sunday")], status="sending"
    )
    people = [create_contact(first_name=f"P{i}") for i in range(6)]
    for person in people:
        opt_in(person, program)
    opted_out = create_contact(first_name="Gone")
    opt_in(opted_out, program)
    consent_revoke(contact=opted_out, programs=[program], method="keyword", source="STOP")
    assert fanout_all(campaign) == 7
    # Fan-out writes the body as rendered; nothing is made for a message that may not leave.
    assert all(LONG in m.body for m in OutboundMessage.objects.filter(campaign=campaign))
    assert not TrackedLink.objects.exists()

    assert Dispatcher().run_batch().sent == 6
    messages = list(OutboundMessage.objects.filter(campaign=campaign, status="sent"))
    codes = set()
    for message in messages:
        link = assert_resolves(message)
        assert (link.campaign_id, link.variant_id) == (campaign.pk, message.variant_id)
        codes |= set(short_codes(message.body))
        assert message.body.startswith(f"Acme: hi {message.contact.first_name}, ")
        assert (message.segments, message.encoding) == (analyze(message.body).segments, "GSM-7")
    assert len(codes) == 6
    assert TrackedLink.objects.count() == 2  # one per variant, not one per recipient
    assert sorted(m.body for m in locmem_sms.outbox) == sorted(m.body for m in messages)
    blocked = OutboundMessage.objects.get(campaign=campaign, status="blocked")
    assert LONG in blocked.body


def test_a_link_a_token_fills_in_is_sent_as_it_is(program, locmem_sms):
    personal = "https://acme.example/p/{attr.code}"
    campaign = create_campaign(
        program,
        bodies=[f"Acme: {LONG} and yours: {personal} Reply STOP to opt out"],
        status="sending",
    )
    opt_in(create_contact(attributes={"code": "k7"}), program)
    fanout_all(campaign)
    message = sent(OutboundMessage.objects.get(campaign=campaign))
    assert "https://acme.example/p/k7 Reply STOP" in message.body
    assert len(short_codes(message.body)) == 1
    assert TrackedLink.objects.get().destination == LONG


def test_it_leaves_campaign_links_alone_when_the_campaign_says_no(program, locmem_sms):
    campaign = create_campaign(program, bodies=[BODY], link_tracking=False, status="sending")
    opt_in(create_contact(), program)
    fanout_all(campaign)
    assert LONG in sent(OutboundMessage.objects.get()).body
    assert not TrackedLink.objects.exists()


def test_it_shortens_in_an_api_send(program, locmem_sms):
    version = create_approved_version(create_template(program), body=BODY)
    opt_in(create_contact(phone="+14155550100"), program)
    message = message_send(
        phone="(415) 555-0100", program=program, template_version=version, context={}
    )
    assert message.status == "queued"
    # Counted with a short link of typical length until hand-off makes the real one.
    assert (message.segments, message.encoding) == (1, "GSM-7")
    assert analyze(BODY.replace("{first_name|there}", "there")).segments == 2
    message = sent(message)
    assert_resolves(message)
    assert (message.segments, message.encoding) == (1, "GSM-7")
    assert [m.body for m in locmem_sms.outbox] == [message.body]


def test_it_shortens_in_a_flow(program, locmem_sms):
    flow = make_flow(program, body=BODY, trigger="order.shipped")
    _, [run] = fire(subscriber(program), type="order.shipped")
    link = assert_resolves(sent(OutboundMessage.objects.get(pk=run.message_id)))
    assert link.flow_id == flow.pk


def test_it_shortens_in_an_agent_reply(program, locmem_sms):
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
    assert_resolves(sent(message))


def test_a_message_handed_off_again_carries_the_same_short_links(program, locmem_sms):
    version = create_approved_version(create_template(program), body=BODY)
    opt_in(create_contact(phone="+14155550102"), program)
    message = message_send(phone="+14155550102", program=program, template_version=version,
                           context={})  # fmt: skip
    first, second = (
        OutboundMessage.objects.get(pk=message.pk),
        OutboundMessage.objects.get(pk=message.pk),
    )
    maker = links.LinkMaker()
    assert maker.shorten(first) and links.LinkMaker().shorten(second)
    assert first.body == second.body != message.body
    assert TrackedLink.objects.count() == 1


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
