"""A reassigned-number look-up that cannot answer never holds a message for ever: not
configured, 60606 and 60607 follow the "no data" policy at once; outages back off, with a limit;
and every held message has a release time that dispatch acts on."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.fanout import fanout_all
from messaging import reassigned
from messaging.dispatch import Dispatcher
from messaging.models import OutboundMessage, ReassignedNumberCheck
from messaging.providers import locmem
from messaging.reassigned import configuration_warning
from tests.factories import create_campaign, create_contact, create_program, opt_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh(settings, no_quiet_hours):
    settings.REASSIGNED_CHECK_AFTER_DAYS = 90
    settings.REASSIGNED_NO_DATA_POLICY = "send"
    reassigned._package_disabled_until.clear()
    locmem.reset()
    yield
    reassigned._package_disabled_until.clear()


@pytest.fixture
def lookup(twilio_standin, settings):
    for name, value in twilio_standin.django_settings().items():
        setattr(settings, name, value)
    return twilio_standin


def queued_to(program, *, consented_days_ago: int = 400) -> OutboundMessage:
    campaign = create_campaign(program, status="sending")
    contact = create_contact()
    opt_in(contact, program, at=timezone.now() - timedelta(days=consented_days_ago))
    fanout_all(campaign)
    return OutboundMessage.objects.get(contact=contact)


def run() -> None:
    Dispatcher(sleep=lambda s: None).run_batch()


def reload(message: OutboundMessage) -> OutboundMessage:
    return OutboundMessage.objects.get(pk=message.pk)


def noted(message: OutboundMessage) -> dict:
    return message.events.get(kind="reassigned").data


def test_it_follows_the_no_data_policy_when_no_lookup_is_configured(settings):
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = ""  # as `make run`
    message = queued_to(create_program("offers"))

    run()

    message = reload(message)
    assert message.status == "sent"
    check = ReassignedNumberCheck.objects.get(phone=message.to)
    assert (check.answer, check.source) == ("no_data", "not_configured")
    assert check.raw["reason"] == "lookup_not_configured"
    assert noted(message) | {"check_id": None} == {
        "check_id": None,
        "answer": "no_data",
        "source": "not_configured",
        "reason": "lookup_not_configured",
        "no_data_policy": "send",
    }
    assert "not configured" in configuration_warning()


@pytest.mark.parametrize("code", [60606, 60607])
def test_a_permanent_lookup_error_applies_the_policy_at_once_and_stops_asking(lookup, code):
    program = create_program("offers")
    first = queued_to(program)
    lookup.set_reassigned(first.to, None, error_code=code)

    run()

    first = reload(first)
    assert first.status == "sent"
    check = ReassignedNumberCheck.objects.get(phone=first.to)
    assert check.answer == "no_data"
    assert (check.raw["error_code"], check.raw["permanent"]) == (code, True)
    assert str(code) in configuration_warning()
    assert len(lookup.lookups) == 1
    # The same number later: the stored answer stands; no look-up is paid for again.
    again = OutboundMessage.objects.create(
        contact=first.contact, to=first.to, program=program, sender=first.sender,
        message_type="marketing", kind="api", body="Another offer",
    )  # fmt: skip
    run()
    assert reload(again).status == "sent"
    assert len(lookup.lookups) == 1


def test_after_60606_the_account_is_not_asked_again_for_other_numbers(lookup):
    program = create_program("offers")
    first = queued_to(program)
    lookup.reassigned_default = None
    lookup.set_reassigned(first.to, None, error_code=60606)
    run()
    second = queued_to(program)

    run()

    assert reload(second).status == "sent"
    assert len(lookup.lookups) == 1
    assert ReassignedNumberCheck.objects.get(phone=second.to).raw["asked"] is False


def test_a_permanent_error_under_a_hold_policy_holds_with_a_release_time(lookup, settings):
    settings.REASSIGNED_NO_DATA_POLICY = "hold"
    message = queued_to(create_program("offers"))
    lookup.set_reassigned(message.to, None, error_code=60607)

    run()

    message = reload(message)
    assert (message.status, message.reason) == ("held", "reassigned_check")
    assert message.next_attempt_at > timezone.now() + timedelta(days=300)


def test_an_outage_backs_off_then_follows_the_policy_after_the_last_try(lookup, settings):
    settings.REASSIGNED_LOOKUP_MAX_TRIES = 3
    message = queued_to(create_program("offers"))
    lookup.fail_requests(503, scope="all")
    waits = []
    for _ in range(2):
        before = timezone.now()
        run()
        message = reload(message)
        assert (message.status, message.reason) == ("held", "reassigned_check")
        waits.append(message.next_attempt_at - before)
        OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    lookup.clear_rules()
    lookup.fail_requests(503, scope="lookup")

    run()

    assert waits[1] > waits[0] >= timedelta(minutes=15)
    message = reload(message)
    assert message.status == "sent"
    check = ReassignedNumberCheck.objects.get(phone=message.to)
    assert (check.answer, check.raw["reason"], check.raw["tries"]) == (
        "no_data",
        "lookup_unavailable",
        3,
    )


def test_no_held_message_is_left_without_a_release(lookup, settings):
    """Dispatch over representative held states: each ends sent, blocked, or held with a
    future release time that dispatch itself will act on (its campaign is sending)."""
    settings.REASSIGNED_NO_DATA_POLICY = "hold"
    program = create_program("offers")
    now = timezone.now()
    states = {
        "reassigned, lookup answers no data": ("no_data_available", None),
        "reassigned, country not supported": (None, 60607),
        "reassigned, answered no": ("no", None),
        "reassigned, answered yes": ("yes", None),
    }
    messages = {}
    for name, (answer, code) in states.items():
        message = queued_to(program)
        lookup.set_reassigned(message.to, answer, error_code=code)
        OutboundMessage.objects.filter(pk=message.pk).update(
            status="held", reason="reassigned_check", next_attempt_at=now
        )
        messages[name] = message
    for hold in ("quiet_hours", "frequency_cap", "daily_cap", "local_time"):
        message = queued_to(program, consented_days_ago=10)
        OutboundMessage.objects.filter(pk=message.pk).update(
            status="held", reason=hold, next_attempt_at=now
        )
        messages[hold] = message

    for _ in range(3):  # a hold may lead to another
        run()

    for name, message in messages.items():
        message = reload(message)
        assert message.status in ("sent", "blocked", "held"), name
        if message.status == "held":
            assert message.next_attempt_at > timezone.now(), name
            assert message.campaign.status == "sending", name  # dispatch will claim it
    assert reload(messages["reassigned, answered yes"]).status == "blocked"
    assert reload(messages["reassigned, answered no"]).status == "sent"
