"""The program review: each finding code planted once, and a clean registration raising none."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from campaigns.registrations.models import (
    FindingStatus,
    ProgramReview,
    Registration,
    ReviewFinding,
)
from campaigns.registrations.review import (
    as_sample,
    prepare_snapshot,
    program_review_due,
    program_review_run,
    similarity,
)
from consent.models import Disclosure
from tests.campaigns.registration_helpers import create_registration, send
from tests.factories import (
    create_approved_version,
    create_contact,
    create_program,
    create_sender,
    create_template,
    create_user,
    opt_in,
)

pytestmark = pytest.mark.django_db

SALE_BODY = (
    "Acme: {first_name|Hi there}, 20% off this weekend at https://acme.example/sale "
    "Reply STOP to opt out"
)


def review(registration, **kwargs) -> ProgramReview:
    return program_review_run(registration=registration, trigger="command", **kwargs)


def codes(reviewed: ProgramReview) -> list[str]:
    return sorted(
        reviewed.findings.exclude(status=FindingStatus.RESOLVED).values_list("code", flat=True)
    )


@pytest.fixture
def program():
    return create_program("offers")


@pytest.fixture
def sender(program):
    return create_sender(program, kind="10dlc")


@pytest.fixture
def sale_version(program):
    return create_approved_version(create_template(program, name="Weekend sale"), body=SALE_BODY)


def test_it_raises_nothing_for_a_registration_that_matches_its_traffic(
    program, sender, sale_version
):
    opt_in(create_contact(), program, method="web_form")
    opt_in(create_contact(), program, method="keyword", source="JOIN to +18335550100")
    registration = create_registration(program, [sender])
    send(sender, program, version=sale_version, count=5)

    reviewed = review(registration)

    assert reviewed.messages_seen == 5
    assert codes(reviewed) == []
    assert reviewed.open_after == 0


# --- undeclared_links -------------------------------------------------------------------------


def test_it_finds_links_sent_while_the_registration_declares_none(program, sender, sale_version):
    registration = create_registration(
        program,
        [sender],
        has_embedded_links=False,
        link_domains=[],
        message_samples=[
            "Acme: [first name], 20% off this weekend in store. Reply STOP to opt out",
            "Acme: [first name], tents are back in stock in store. Reply STOP to opt out",
        ],
    )
    sent = send(sender, program, version=sale_version, count=3)

    finding = review(registration).findings.get(code="undeclared_links")

    assert finding.severity == "reject"
    assert finding.field == "has_embedded_links"
    item = finding.evidence["items"][0]
    assert item["messages"] == 3 and item["example_message"] == sent[0].pk
    assert item["body"] == SALE_BODY
    assert finding.evidence["snapshot_value"]["has_embedded_links"] is False
    assert finding.proposal == {"has_embedded_links": True, "link_domains": ["acme.example"]}
    assert list(finding.templates.all()) == [sale_version.template]


def test_it_finds_public_shorteners_even_when_links_are_declared(program, sender):
    registration = create_registration(program, [sender])
    send(sender, program, body="Acme: 20% off at https://bit.ly/x1 Reply STOP to opt out")

    finding = review(registration).findings.get(code="undeclared_links")

    assert "bit.ly" in finding.detail
    assert finding.severity == "reject"


# --- undeclared_phone -------------------------------------------------------------------------


def test_it_finds_phone_numbers_in_bodies_while_the_registration_says_none(program, sender):
    registration = create_registration(program, [sender])
    version = create_approved_version(
        create_template(program, name="Call us"),
        body="Acme: {first_name|Hi}, 20% off this weekend, call 415-555-0199 to order. "
        "Reply STOP to opt out",
    )
    send(sender, program, version=version)

    finding = review(registration).findings.get(code="undeclared_phone")

    assert finding.evidence["items"][0]["phones"] == ["415-555-0199"]
    assert finding.proposal == {"has_embedded_phone": True}


# --- use_case_mismatch ------------------------------------------------------------------------


def test_it_finds_marketing_on_an_account_notification_campaign(sender):
    program = create_program("accounts", message_type="transactional")
    registration = create_registration(
        program,
        [sender],
        use_case="ACCOUNT_NOTIFICATION",
        privacy_policy_url="",
    )
    send(sender, program, message_type="marketing", body="Acme: 20% off. Reply STOP to opt out")

    findings = review(registration).findings.filter(code="use_case_mismatch")

    assert [f.key for f in findings] == ["use_case_mismatch:type:marketing"]
    assert findings[0].evidence["snapshot_value"]["use_case"] == "ACCOUNT_NOTIFICATION"


def test_it_finds_a_new_program_on_an_old_campaign(program, sender):
    registration = create_registration(program, [sender])
    newcomer = create_program("vip-club")
    send(sender, newcomer, body="Acme: 20% off this weekend at https://acme.example/sale STOP")

    finding = review(registration).findings.get(code="use_case_mismatch")

    assert finding.key == f"use_case_mismatch:program:{newcomer.pk}"
    assert finding.field == "programs"


# --- sample_drift -----------------------------------------------------------------------------


def test_it_finds_live_templates_no_sample_resembles_and_proposes_bracketed_samples(
    program, sender
):
    registration = create_registration(program, [sender])
    drifted = create_approved_version(
        create_template(program, name="Holiday hours"),
        body="Acme Outdoor store hours change for the holidays, {first_name}: we open at 10 on "
        "Dec 24 and close on the 25th. Reply STOP to opt out",
    )
    send(sender, program, version=drifted, count=4)

    finding = review(registration).findings.get(code="sample_drift")

    proposed = finding.evidence["proposed_samples"]
    assert len(proposed) == 1 and "[first name]" in proposed[0] and "{" not in proposed[0]
    assert finding.proposal["message_samples"][-1] == proposed[0]
    assert finding.evidence["items"][0]["messages"] == 4
    assert list(finding.templates.all()) == [drifted.template]


def test_it_treats_bracketed_fields_and_tokens_alike_when_comparing():
    assert similarity("Hi {first_name|there}, your order {attr.order} shipped", "Hi [name], "
                      "your order [order number] shipped") == 1.0  # fmt: skip
    assert as_sample("Hi {first_name|there} at {event.appointment_at:time}") == (
        "Hi [first name] at [appointment at]"
    )


# --- opt_in_flow_changed ----------------------------------------------------------------------


def test_it_finds_a_disclosure_changed_after_the_snapshot_was_submitted(program, sender):
    registration = create_registration(program, [sender])
    Disclosure.objects.create(
        program=program, version=2, text="New wording of the disclosure, shown from today."
    )

    finding = review(registration).findings.get(code="opt_in_flow_changed")

    assert finding.key == f"opt_in_flow_changed:disclosure:{program.pk}"
    assert finding.evidence["disclosures"][0]["version"] == 2


def test_it_finds_opt_in_methods_in_the_ledger_the_message_flow_never_mentions(program, sender):
    registration = create_registration(program, [sender])
    opt_in(create_contact(), program, method="paper", source="Store sign-up sheet 12")

    finding = review(registration).findings.get(code="opt_in_flow_changed")

    assert finding.evidence["methods"] == ["paper"]
    assert finding.severity == "reject"


# --- keyword_mismatch -------------------------------------------------------------------------


def test_it_finds_a_program_keyword_the_registration_does_not_list(program, sender):
    registration = create_registration(program, [sender])
    program.join_keywords = ["JOIN", "DEALS"]
    program.save(update_fields=["join_keywords"])

    finding = review(registration).findings.get(code="keyword_mismatch")

    assert finding.evidence["differences"]["opt_in_keywords"]["missing"] == ["DEALS"]
    assert "DEALS" in finding.proposal["opt_in_keywords"]


def test_it_finds_a_help_text_that_differs_from_the_registered_one(program, sender):
    registration = create_registration(program, [sender])
    program.help_text = "Acme: questions? support@acme.example. Reply STOP to cancel."
    program.save(update_fields=["help_text"])

    finding = review(registration).findings.get(code="keyword_mismatch")

    assert "help_message" in finding.evidence["differences"]


# --- content_flags ----------------------------------------------------------------------------


def test_it_finds_age_gated_content_the_flags_do_not_declare(program, sender):
    registration = create_registration(program, [sender])
    send(sender, program, body="Acme: happy hour with craft beer tonight. Reply STOP to opt out")

    finding = review(registration).findings.get(code="content_flags")

    assert finding.key == "content_flags:age_gated"
    assert finding.evidence["items"][0]["terms"] == ["beer", "happy hour"]


def test_it_finds_direct_lending_content_the_flags_do_not_declare(program, sender):
    registration = create_registration(program, [sender])
    send(sender, program, body="Acme: get a payday loan today. Reply STOP to opt out")

    keys = set(review(registration).findings.values_list("key", flat=True))

    assert "content_flags:direct_lending" in keys


# --- throughput_exceeded ----------------------------------------------------------------------


def test_it_finds_a_minute_over_the_campaigns_rate_and_a_day_over_the_brands_cap(
    program, sender, sale_version
):
    registration = create_registration(
        program, [sender], att_messages_per_minute=5, tmobile_daily_segments=8
    )
    # Noon yesterday in the zone days are counted in: all nine sends fall on one day whenever the
    # test runs (two hours before "now" crosses midnight for two hours of every day).
    yesterday = timezone.localtime() - timedelta(days=1)
    minute = yesterday.replace(hour=12, minute=0, second=0, microsecond=0)
    send(sender, program, version=sale_version, count=6, at=minute + timedelta(seconds=10))
    send(sender, program, version=sale_version, count=3, at=minute + timedelta(minutes=5))

    keys = set(review(registration).findings.values_list("key", flat=True))

    assert {"throughput_exceeded:per_minute", "throughput_exceeded:daily"} <= keys


def test_it_warns_of_a_high_carrier_filtering_share(program, sender, sale_version):
    registration = create_registration(program, [sender])
    send(sender, program, version=sale_version, count=9)
    send(sender, program, version=sale_version, count=1, error_code=30007)

    finding = review(registration).findings.get(key="throughput_exceeded:filtered")

    assert finding.evidence == {"filtered": 1, "messages": 10}


# --- unregistered_sender ----------------------------------------------------------------------


def test_it_finds_a_10dlc_sender_with_traffic_no_registration_covers(program):
    lone = create_sender(program, kind="10dlc", name="Lone long code")
    short_code = create_sender(program, kind="short_code", name="Short code")
    send(lone, program, count=2)
    send(short_code, program, count=2)

    swept = program_review_run(registration=None, trigger="schedule")

    finding = swept.findings.get()
    assert finding.code == "unregistered_sender" and finding.sender == lone
    assert finding.evidence["messages"] == 2


def test_it_finds_traffic_on_a_registration_that_is_not_approved(program, sender, sale_version):
    registration = create_registration(program, [sender], approved=False)
    send(sender, program, version=sale_version)

    assert codes(review(registration)) == ["unregistered_sender"]


def test_the_sweep_raises_nothing_for_covered_senders(program, sender, sale_version):
    create_registration(program, [sender])
    send(sender, program, version=sale_version)

    assert program_review_run(registration=None, trigger="schedule").findings.count() == 0


# --- review_overdue ---------------------------------------------------------------------------


def test_it_finds_a_registration_whose_last_sign_off_is_older_than_its_cadence(program, sender):
    registration = create_registration(program, [sender])
    Registration.objects.filter(pk=registration.pk).update(
        created_at=timezone.now() - timedelta(days=30), review_cadence_days=14
    )

    finding = review(registration).findings.get(code="review_overdue")
    assert finding.evidence["last_signed_off"] is None

    reviewed = ProgramReview.objects.get(pk=finding.review_id)
    finding.acknowledge(by=create_user("carl"), note="Reviewed today")
    reviewed.sign_off(by=create_user("cora"))
    assert "review_overdue" not in codes(review(registration))


# --- carry-over and sign-off ------------------------------------------------------------------


def test_an_acknowledged_finding_is_not_raised_again_unless_it_grows(program, sender):
    registration = create_registration(program, [sender])
    send(sender, program, body="Acme: beer night. Reply STOP to opt out")
    first = review(registration).findings.get(code="content_flags")
    first.acknowledge(by=create_user("carl"), note="Age gate is on the form")

    again = review(registration)
    assert again.raised == 0
    assert ReviewFinding.objects.get(pk=first.pk).status == "acknowledged"

    send(sender, program, body="Acme: whiskey tasting. Reply STOP to opt out")
    grown = review(registration)
    assert grown.raised == 1
    assert ReviewFinding.objects.get(pk=first.pk).status == "open"


def test_a_finding_no_longer_seen_is_resolved_and_a_review_signs_off(program, sender):
    registration = create_registration(program, [sender])
    old = timezone.now() - timedelta(days=20)
    send(sender, program, body="Acme: beer night. Reply STOP to opt out", at=old)
    first = review(registration).findings.get(code="content_flags")

    later = review(registration, now=timezone.now() + timedelta(days=15))

    assert ReviewFinding.objects.get(pk=first.pk).status == "resolved"
    carl = create_user("carl")
    overdue = later.findings.get(status="open")  # two weeks on, the weekly review is late
    assert overdue.code == "review_overdue"
    overdue.acknowledge(by=carl, note="Reviewing now")
    later.sign_off(by=carl, note="All clear")
    assert later.signed_off_at is not None


def test_a_review_with_open_findings_cannot_be_signed_off(program, sender):
    from campaigns.registrations.models import RegistrationError

    registration = create_registration(program, [sender])
    send(sender, program, body="Acme: beer night. Reply STOP to opt out")
    reviewed = review(registration)

    with pytest.raises(RegistrationError, match="every open finding"):
        reviewed.sign_off(by=create_user("carl"))


def test_prepare_snapshot_prefills_the_proposals_as_a_new_draft(program, sender, sale_version):
    registration = create_registration(program, [sender], has_embedded_links=False,
                                       link_domains=[], message_samples=[
        "Acme: [first name], 20% off this weekend in store. Reply STOP to opt out",
        "Acme: [first name], tents are back in stock in store. Reply STOP to opt out",
    ])  # fmt: skip
    send(sender, program, version=sale_version)
    finding = review(registration).findings.get(code="undeclared_links")

    draft = prepare_snapshot([finding.pk], by=create_user("carl"))

    assert draft.status == "draft" and draft.number == 2
    assert draft.has_embedded_links is True and draft.link_domains == ["acme.example"]
    assert registration.approved_snapshot.has_embedded_links is False  # in force, unchanged


# --- the command and the schedule -------------------------------------------------------------


def test_the_command_prints_a_json_list_of_findings(program, sender):
    registration = create_registration(program, [sender])
    send(sender, program, body="Acme: beer night. Reply STOP to opt out")
    out = StringIO()

    call_command("program_review", "--registration", str(registration.pk), "--json", stdout=out)

    findings = json.loads(out.getvalue())
    assert isinstance(findings, list) and len(findings) == 1
    assert {"registration", "code", "severity", "detail"} <= set(findings[0])
    assert findings[0]["registration"] == registration.pk
    assert findings[0]["code"] == "content_flags"


def test_the_command_reviews_everything_without_a_registration_id(program, sender):
    create_registration(program, [sender])
    out = StringIO()
    call_command("program_review", "--json", stdout=out)
    assert json.loads(out.getvalue()) == []
    assert ProgramReview.objects.filter(registration__isnull=True).count() == 1


def test_setup_schedules_creates_the_program_review_schedule():
    call_command("setup_schedules", stdout=StringIO())
    schedule = Schedule.objects.get(func="campaigns.tasks.run_program_reviews")
    assert schedule.repeats == -1


def test_the_schedule_reviews_a_registration_only_when_its_cadence_comes_round(program, sender):
    from campaigns.tasks import run_program_reviews

    registration = create_registration(program, [sender])
    assert run_program_reviews() == 2  # the registration, then the sweep
    assert run_program_reviews() == 1  # only the sweep: a week has not passed
    later = timezone.now() + timedelta(days=8)
    reviews = program_review_due(now=later)
    assert [r.registration for r in reviews] == [registration, None]
