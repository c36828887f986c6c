"""`seed_demo` builds a believable business, once."""

from datetime import timedelta

import pytest
from django.core.management import call_command

from consent.models import ConsentEvent, ConsentState, Contact, Program, Suppression
from consent.selectors import can_message

pytestmark = pytest.mark.django_db


def test_it_creates_programs_contacts_and_varied_consent_histories_once():
    call_command("seed_demo", contacts=150, seed=7)
    offers = Program.objects.get(slug="offers")
    appointments = Program.objects.get(slug="appointments")
    assert offers.double_opt_in and offers.message_type == "marketing"
    assert appointments.message_type == "transactional"
    assert offers.disclosures.count() == 2
    assert Contact.objects.count() == 150
    methods = set(ConsentEvent.objects.values_list("method", flat=True))
    assert {"web_form", "keyword", "import"} <= methods
    assert ConsentState.objects.filter(status="opted_out").exists()
    assert ConsentState.objects.filter(status="pending").exists()
    assert Suppression.objects.exists()
    # The derived state agrees with the gate for every demo contact.
    for state in ConsentState.objects.filter(program=offers).select_related("contact")[:50]:
        allowed = can_message(state.contact.phone, offers).allowed
        assert allowed == (
            state.status == "opted_in"
            and not Suppression.objects.filter(
                phone_hash=state.contact.phone_hash, lifted_at__isnull=True
            ).exists()
        )

    from campaigns.models import Campaign
    from campaigns.services import launch_problems
    from templates.models import TemplateVersion

    assert (
        TemplateVersion.objects.filter(
            status="approved", template__name__in=["Weekend sale", "Service reminder"]
        ).count()
        == 2
    )
    assert TemplateVersion.objects.filter(status="pending_review").count() == 1
    campaign = Campaign.objects.get(status="draft")
    assert launch_problems(campaign) == []  # ready to launch from the admin

    call_command("seed_demo", contacts=150, seed=7)
    assert Contact.objects.count() == 150


def test_ensure_admin_prints_a_working_login(capsys):
    from django.contrib.auth import authenticate

    call_command("ensure_admin")
    out = capsys.readouterr().out
    password = out.split("admin / ")[1].split()[0]
    assert authenticate(username="admin", password=password).is_superuser
    assert authenticate(username="support", password=password).groups.filter(name="Support")


PRESETS = {
    # name: (trigger, program, anchor, offset)
    "Website lead welcome": ("lead.created", "offers", "", timedelta(0)),
    "Appointment confirmation": ("appointment.booked", "appointments", "", timedelta(0)),
    "Appointment reminder": (
        "appointment.booked", "appointments", "appointment_at", timedelta(hours=-24)
    ),
    "Post-purchase follow-up": ("order.delivered", "offers", "", timedelta(days=3)),
    "Opt-in confirmation: Acme Offers": ("consent.opted_in", "offers", "", timedelta(0)),
    "Opt-in confirmation: Appointment reminders": (
        "consent.opted_in", "appointments", "", timedelta(0)
    ),
    "Monthly reminder: Acme Offers": (
        "subscription.monthly_reminder", "offers", "", timedelta(0)
    ),
}  # fmt: skip


def test_it_adds_the_flow_presets_with_four_eyes_approved_templates_once():
    from campaigns.flow_rules import flow_problems
    from campaigns.models import Flow
    from templates.checks import has_blockers
    from templates.models import TemplateVersion

    call_command("seed_demo", contacts=20, seed=3)
    flows = {f.name: f for f in Flow.objects.select_related("program", "template")}
    assert {
        name: (f.trigger, f.program.slug, f.anchor, f.offset) for name, f in flows.items()
    } == PRESETS  # the transactional program gets no monthly reminder
    for flow in flows.values():
        version = flow.template.approved_version
        assert flow.active and version is not None, flow
        assert version.reviewer_id != version.author_id
        assert not has_blockers(version.run_checks()), (flow, version.findings)
        assert flow_problems(flow) == {}
    reminder = flows["Monthly reminder: Acme Offers"].template.approved_version.body
    assert reminder == (
        "Acme Outdoor: you're still subscribed to Acme Offers. Msg&data rates may apply. "
        "Reply STOP to cancel."
    )
    assert flows["Website lead welcome"].conditions == [
        {"field": "data.source", "op": "eq", "value": "website"}
    ]

    versions = TemplateVersion.objects.count()
    call_command("seed_demo", contacts=20, seed=3)
    assert Flow.objects.count() == len(PRESETS)
    assert TemplateVersion.objects.count() == versions


def test_it_adds_the_presets_to_a_database_seeded_before_they_existed():
    from campaigns.models import Flow, FlowRun
    from messaging.models import OutboundMessage
    from templates.models import TemplateVersion

    call_command("seed_demo", contacts=20, seed=3)
    # A database seeded before the presets existed has no runs of them either.
    FlowRun.objects.filter(flow__name__startswith="Appointment").delete()
    OutboundMessage.objects.filter(flow__name__startswith="Appointment").update(flow=None)
    Flow.objects.filter(name__startswith="Appointment").delete()
    versions = TemplateVersion.objects.count()
    call_command("seed_demo", contacts=20, seed=3)
    assert Flow.objects.filter(name__startswith="Appointment").count() == 2
    assert TemplateVersion.objects.count() == versions  # the approved templates are reused


def test_the_appointment_presets_confirm_at_once_and_remind_a_day_before():
    from django.utils import timezone

    from campaigns.flows import flow_event_record

    call_command("seed_demo", contacts=40, seed=3)
    appointments = Program.objects.get(slug="appointments")
    state = ConsentState.objects.filter(program=appointments, status="opted_in").first()
    at = (timezone.now() + timedelta(days=4)).replace(microsecond=0)
    _, runs = flow_event_record(
        type="appointment.booked",
        contact=state.contact,
        occurred_at=timezone.now(),
        data={"appointment_at": at.isoformat(), "service": "bike tune-up"},
    )
    outcomes = {run.flow.name: (run.outcome, run.fire_at) for run in runs}
    assert outcomes["Appointment reminder"] == ("queued", at - timedelta(hours=24))
    assert outcomes["Appointment confirmation"][0] == "queued"
    confirmation = next(r for r in runs if r.flow.name == "Appointment confirmation")
    assert "your bike tune-up appointment is booked for" in confirmation.message.body


def test_the_demo_names_each_template_once_and_its_number_for_what_it_is():
    from django.db.models import Count

    from messaging.models import Sender
    from templates.models import MessageTemplate

    call_command("seed_demo", contacts=20, seed=3)
    repeated = MessageTemplate.objects.values("name").annotate(n=Count("id")).filter(n__gt=1)
    assert list(repeated) == []  # no "Opt-in confirmation" twice in a dropdown
    from campaigns.management.commands.seed_demo import DEMO_NUMBER

    sender = Sender.objects.get(phone_number=DEMO_NUMBER)
    assert sender.phone_number.startswith("+1833") and sender.kind == "toll_free"
    assert "short code" not in sender.name.lower()


def test_it_includes_a_few_conversations_received_through_the_inbound_path():
    from messaging.models import Conversation, InboundMessage, RevocationReview

    call_command("seed_demo", contacts=60, seed=3)
    conversations = Conversation.objects.filter(status="open")
    assert conversations.count() >= 3
    texts = set(InboundMessage.objects.values_list("body", flat=True))
    assert "What time do you open on Saturday?" in texts
    assert all(
        sid.startswith("SMsimulated")
        for sid in InboundMessage.objects.values_list("provider_sid", flat=True)
    )
    assert RevocationReview.objects.filter(status="pending").count() == 1


def test_every_report_has_something_to_show():
    from campaigns.models import Campaign, FlowRun
    from messaging.models import DailyCount

    call_command("seed_demo", contacts=150, seed=7)

    sent = Campaign.objects.get(status="completed")
    assert sent.variants.count() == 2
    metrics = set(
        DailyCount.objects.filter(scope="campaign", key=sent.pk).values_list("metric", flat=True)
    )
    assert {"targeted", "sent", "delivered", "error:30007", "replies"} <= metrics
    assert DailyCount.objects.filter(scope="variant", metric="sent").count() == 2
    assert DailyCount.objects.filter(scope="sender", metric="sent").exists()
    assert FlowRun.objects.exists()
    assert DailyCount.objects.filter(scope="flow", metric="runs").exists()


def test_it_tracks_the_offers_links_with_clicks_and_conversions_on_a_sent_campaign(settings):
    from campaigns.demo import CAMPAIGN_NAME
    from campaigns.models import Campaign
    from messaging.links import parse_code
    from messaging.models import Click, Conversion, OutboundMessage

    call_command("seed_demo", contacts=150, seed=7)
    offers = Program.objects.get(slug="offers")
    assert offers.link_tracking
    sent = Campaign.objects.get(name=CAMPAIGN_NAME)
    delivered = OutboundMessage.objects.filter(campaign=sent, status="delivered")
    assert delivered.exists()
    for message in delivered:
        code = message.body.split(f"https://{settings.SMS_LINK_DOMAIN}/")[1].split()[0]
        assert parse_code(code)[0] == message.pk
    clicks = Click.objects.filter(campaign=sent)
    assert clicks.filter(bot_reason="").exists()
    assert clicks.exclude(bot_reason="").exists()
    assert Conversion.objects.filter(campaign=sent, attribution="click").exists()


def test_the_demo_leaves_no_sender_with_a_rate_debt_to_sleep_through():
    """The demo's instant sends must not make the first real dispatch wait minutes, nor run up
    a debt its own batches would put messages back for (more than 90 s of the sender's rate)."""
    from messaging.models import MessageEvent, SenderThrottle

    call_command("seed_demo", contacts=600, seed=7)

    assert not SenderThrottle.objects.filter(tokens__lt=0).exists()
    assert not MessageEvent.objects.filter(kind="released").exists()
