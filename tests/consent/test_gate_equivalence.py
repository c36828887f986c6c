"""`gate` (dispatch's one-round-trip check) answers exactly as `can_message`."""

import itertools

import pytest
from django.utils import timezone

from consent import services
from consent.models import MessageType
from consent.selectors import Reason, can_message, gate
from tests.factories import create_contact, create_program, opt_in

pytestmark = pytest.mark.django_db


def test_it_agrees_with_can_message_in_every_situation():
    marketing = create_program("offers")
    transactional = create_program("appointments", message_type=MessageType.TRANSACTIONAL)
    inactive = create_program("old", active=False)
    doi = create_program("deals", double_opt_in=True)
    programs = [marketing, transactional, inactive, doi]

    people = []
    for situation in ("none", "in", "out", "pending", "suppressed", "suppressed_one", "lifted"):
        contact = create_contact()
        people.append(contact)
        if situation in ("in", "suppressed", "suppressed_one", "lifted", "out"):
            opt_in(contact, marketing)
            opt_in(contact, transactional)
        if situation == "out":
            services.consent_revoke(
                contact=contact, programs=[marketing], method="api", source="crm"
            )
        if situation == "pending":
            opt_in(contact, doi, confirmed=False)
        if situation == "suppressed":
            services.suppression_add(phone=contact.phone, reason="complaint")
        if situation == "suppressed_one":
            services.suppression_add(phone=contact.phone, reason="manual", program=marketing)
        if situation == "lifted":
            s = services.suppression_add(phone=contact.phone, reason="manual")
            services.suppression_lift(suppression=s, by=None, note="error")

    now = timezone.now()
    for contact, program, message_type in itertools.product(people, programs, MessageType.values):
        expected = can_message(contact.phone, program, message_type, at=now).reason
        actual = gate(
            contact_id=contact.pk,
            contact_phone_hash=contact.phone_hash,
            program=program,
            message_type=message_type,
            at=now,
        )
        assert actual == expected, (contact, program, message_type)


def test_blocked_messages_carry_the_gates_own_reasons():
    from messaging.models import BlockReason

    assert BlockReason is Reason  # one enum: no mapping between the gate's and messaging's
    assert Reason.SUPPRESSED.label == "Number suppressed"
