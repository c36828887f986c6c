"""`can_message`: the one gate, and its set-based twin `eligible_contacts`."""

from datetime import timedelta

import pytest
from django.utils import timezone

from consent import services
from consent.models import Contact, MessageType
from consent.selectors import Reason, can_message, eligible_contacts
from tests.factories import create_contact, create_program, opt_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def offers():
    return create_program("offers")


def test_it_allows_a_confirmed_opt_in(offers):
    contact = create_contact()
    opt_in(contact, offers)
    decision = can_message(contact.phone, offers, MessageType.MARKETING)
    assert decision.allowed and decision.reason == Reason.OK


def test_it_accepts_the_number_in_any_format(offers):
    contact = create_contact(phone="+14155552671")
    opt_in(contact, offers)
    assert can_message("(415) 555-2671", offers).allowed


def test_it_refuses_without_consent(offers):
    contact = create_contact()
    assert can_message(contact.phone, offers).reason == Reason.NO_CONSENT
    assert can_message("+14155550000", offers).reason == Reason.NO_CONSENT


def test_it_refuses_a_malformed_number(offers):
    assert can_message("12", offers).reason == Reason.INVALID_PHONE


def test_it_refuses_after_an_opt_out(offers):
    contact = create_contact()
    opt_in(contact, offers)
    services.consent_revoke(contact=contact, programs=[offers], method="keyword", source="STOP")
    decision = can_message(contact.phone, offers)
    assert not decision.allowed and decision.reason == Reason.OPTED_OUT


def test_it_refuses_a_pending_double_opt_in():
    program = create_program("deals", double_opt_in=True)
    contact = create_contact()
    opt_in(contact, program, confirmed=False)
    assert can_message(contact.phone, program).reason == Reason.PENDING_CONFIRMATION


def test_it_refuses_a_suppressed_number_even_with_consent(offers):
    contact = create_contact()
    opt_in(contact, offers)
    services.suppression_add(phone=contact.phone, reason="complaint")
    assert can_message(contact.phone, offers).reason == Reason.SUPPRESSED


def test_it_scopes_a_program_suppression_to_that_program(offers):
    reminders = create_program("appointments", message_type=MessageType.TRANSACTIONAL)
    contact = create_contact()
    opt_in(contact, offers)
    opt_in(contact, reminders)
    services.suppression_add(phone=contact.phone, reason="manual", program=offers)
    assert can_message(contact.phone, offers).reason == Reason.SUPPRESSED
    assert can_message(contact.phone, reminders).allowed


def test_it_allows_again_once_a_suppression_is_lifted(offers):
    contact = create_contact()
    opt_in(contact, offers)
    suppression = services.suppression_add(phone=contact.phone, reason="manual")
    assert services.suppression_lift(suppression=suppression, by=None, note="entered by mistake")
    assert not services.suppression_lift(suppression=suppression, by=None, note="again")
    assert can_message(contact.phone, offers).allowed


def test_it_refuses_message_types_the_program_does_not_cover():
    reminders = create_program("appointments", message_type=MessageType.TRANSACTIONAL)
    contact = create_contact()
    opt_in(contact, reminders)
    assert can_message(contact.phone, reminders, MessageType.TRANSACTIONAL).allowed
    decision = can_message(contact.phone, reminders, MessageType.MARKETING)
    assert decision.reason == Reason.MESSAGE_TYPE_NOT_COVERED


def test_it_allows_customer_care_replies_but_never_to_an_opted_out_number(offers):
    contact = create_contact()
    assert can_message(contact.phone, offers, MessageType.CUSTOMER_CARE).allowed
    services.consent_revoke(contact=contact, programs=[offers], method="keyword", source="STOP")
    assert can_message(contact.phone, offers, MessageType.CUSTOMER_CARE).reason == Reason.OPTED_OUT


def test_it_refuses_an_inactive_program(offers):
    contact = create_contact()
    opt_in(contact, offers)
    offers.active = False
    offers.save()
    assert can_message(contact.phone, offers).reason == Reason.PROGRAM_INACTIVE


def test_it_answers_for_a_past_moment_from_the_ledger(offers):
    contact = create_contact()
    opted_in_at = timezone.now() - timedelta(days=10)
    opt_in(contact, offers, at=opted_in_at)
    services.consent_revoke(contact=contact, programs=[offers], method="keyword", source="STOP")
    assert can_message(contact.phone, offers, at=opted_in_at + timedelta(days=1)).allowed
    assert not can_message(contact.phone, offers, at=opted_in_at - timedelta(days=1)).allowed
    assert can_message(contact.phone, offers).reason == Reason.OPTED_OUT


def test_eligible_contacts_agrees_with_the_gate(offers):
    allowed = create_contact()
    opt_in(allowed, offers)
    opted_out = create_contact()
    opt_in(opted_out, offers)
    services.consent_revoke(contact=opted_out, programs=[offers], method="api", source="crm")
    suppressed = create_contact()
    opt_in(suppressed, offers)
    services.suppression_add(phone=suppressed.phone, reason="complaint")
    pending = create_contact()
    opt_in(pending, create_program("other", double_opt_in=True), confirmed=False)
    never = create_contact()

    eligible = set(eligible_contacts(offers))
    assert eligible == {allowed}
    for contact in (allowed, opted_out, suppressed, pending, never):
        assert can_message(contact.phone, offers).allowed == (contact in eligible)


def test_the_contact_queryset_is_the_set_based_gate(offers):
    receipts = create_program("receipts", message_type=MessageType.TRANSACTIONAL)
    allowed, suppressed = create_contact(), create_contact()
    for contact in (allowed, suppressed):
        opt_in(contact, offers)
        opt_in(contact, receipts)
    services.suppression_add(phone=suppressed.phone, reason="complaint")
    yesterday = timezone.now() - timedelta(days=1)

    assert set(Contact.objects.eligible_for(offers)) == {allowed}
    # The suppression was not yet in force yesterday.
    assert set(Contact.objects.eligible_for(offers, at=yesterday)) == {allowed, suppressed}
    # A transactional program's consent never covers marketing.
    assert not Contact.objects.eligible_for(receipts, MessageType.MARKETING).exists()
    for program, message_type in [(offers, MessageType.TRANSACTIONAL), (receipts, None)]:
        eligible = set(Contact.objects.eligible_for(program, message_type))
        for contact in (allowed, suppressed):
            assert can_message(contact.phone, program, message_type).allowed == (
                contact in eligible
            )
