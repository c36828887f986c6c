"""Fan-out: set-based, resumable, every exclusion with a reason, bodies rendered exactly."""

import pytest

from campaigns.fanout import FanoutError, fanout_all, fanout_batch
from consent import services
from messaging.models import OutboundMessage
from tests.factories import create_campaign, create_contact, create_program, opt_in

pytestmark = pytest.mark.django_db

BODY = (
    "Acme: hi {first_name|there}, you are {attr.tier}. https://acme.example/x Reply STOP to opt out"
)


@pytest.fixture
def program():
    return create_program("offers")


def test_it_writes_one_message_per_contact_with_the_body_rendered_raw(program):
    campaign = create_campaign(program, bodies=[BODY])
    named = create_contact(first_name="O'Brien", attributes={"tier": "gold"})
    unnamed = create_contact(first_name="  ", attributes={"tier": "silver"})
    for contact in (named, unnamed):
        opt_in(contact, program)
    assert fanout_all(campaign) == 2
    bodies = dict(OutboundMessage.objects.values_list("contact_id", "body"))
    assert bodies[named.pk].startswith("Acme: hi O'Brien, you are gold.")
    assert bodies[unnamed.pk].startswith("Acme: hi there, you are silver.")
    message = OutboundMessage.objects.get(contact=named)
    assert (message.status, message.to, message.kind) == ("queued", named.phone, "campaign")
    assert message.sender in campaign.senders.all()
    assert message.variant.template_version == message.template_version


def test_it_records_every_excluded_recipient_with_a_reason(program):
    campaign = create_campaign(program, bodies=[BODY])
    ok = create_contact(attributes={"tier": "gold"})
    opt_in(ok, program)
    opted_out = create_contact(attributes={"tier": "gold"})
    opt_in(opted_out, program)
    services.consent_revoke(contact=opted_out, programs=[program], method="keyword", source="STOP")
    suppressed = create_contact(attributes={"tier": "gold"})
    opt_in(suppressed, program)
    services.suppression_add(phone=suppressed.phone, reason="complaint")
    pending = create_contact(attributes={"tier": "gold"})
    opt_in(pending, create_program("deals", double_opt_in=True), confirmed=False)
    never = create_contact(attributes={"tier": "gold"})
    no_tier = create_contact()
    opt_in(no_tier, program)

    fanout_all(campaign)
    outcome = {m.contact_id: (m.status, m.reason) for m in OutboundMessage.objects.all()}
    assert outcome == {
        ok.pk: ("queued", ""),
        opted_out.pk: ("blocked", "opted_out"),
        suppressed.pk: ("blocked", "suppressed"),
        pending.pk: ("blocked", "no_consent"),
        never.pk: ("blocked", "no_consent"),
        no_tier.pk: ("blocked", "missing_token"),
    }
    campaign.refresh_from_db()
    assert campaign.excluded == {
        "opted_out": 1,
        "suppressed": 1,
        "no_consent": 2,
        "missing_token": 1,
    }


def test_it_only_reaches_the_audience(program):
    campaign = create_campaign(program, filters={"state_in": ["FL"]})
    florida = create_contact(state="FL")
    texas = create_contact(state="TX")
    for contact in (florida, texas):
        opt_in(contact, program)
    fanout_all(campaign)
    assert list(OutboundMessage.objects.values_list("contact_id", flat=True)) == [florida.pk]


def test_it_resumes_after_a_crash_without_duplicates(program):
    campaign = create_campaign(program)
    contacts = [create_contact() for _ in range(7)]
    for contact in contacts:
        opt_in(contact, program)
    first = fanout_batch(campaign, batch_size=3)
    assert (first.written, first.done) == (3, False)
    # A worker dies here; another picks the campaign up from its committed cursor.
    assert fanout_all(campaign, batch_size=3) == 4
    assert fanout_all(campaign, batch_size=3) == 0
    assert OutboundMessage.objects.count() == 7
    assert sorted(OutboundMessage.objects.values_list("contact_id", flat=True)) == sorted(
        c.pk for c in contacts
    )


def test_it_splits_recipients_between_variants_by_weight(program):
    campaign = create_campaign(program, bodies=[BODY.replace("hi", "hello"), BODY])
    for _ in range(200):
        opt_in(create_contact(attributes={"tier": "gold"}), program)
    fanout_all(campaign)
    by_variant = {}
    for message in OutboundMessage.objects.select_related("variant"):
        by_variant.setdefault(message.variant.label, []).append(message.body)
    assert set(by_variant) == {"A", "B"}
    assert 60 <= len(by_variant["A"]) <= 140
    assert all(body.startswith("Acme: hello") for body in by_variant["A"])
    assert all(body.startswith("Acme: hi ") for body in by_variant["B"])


def test_it_refuses_a_campaign_without_a_sender(program):
    campaign = create_campaign(program)
    campaign.senders.clear()
    with pytest.raises(FanoutError, match="sender"):
        fanout_all(campaign)
