"""A privacy erasure blanks the person but keeps the legal record and the block."""

import pytest

from consent import services
from consent.models import ConsentEvent, Contact, Suppression
from consent.selectors import Reason, can_message
from tests.factories import create_contact, create_program, opt_in

pytestmark = pytest.mark.django_db


def test_it_blanks_personal_data_and_keeps_the_ledger():
    program = create_program()
    contact = create_contact(
        first_name="Ada", last_name="Lovelace", email="ada@example.com", attributes={"tier": "gold"}
    )
    phone = contact.phone
    event = opt_in(contact, program)

    services.contact_erase(contact=contact, request_ref="DSR-17")
    contact.refresh_from_db()

    assert (contact.first_name, contact.last_name, contact.email) == ("", "", "")
    assert contact.attributes == {}
    assert contact.phone is None
    assert contact.erased_at is not None
    event.refresh_from_db()
    assert event.phone == phone
    assert ConsentEvent.objects.count() == 1


def test_it_keeps_a_suppression_by_hash_so_a_re_import_cannot_message_the_number():
    program = create_program()
    contact = create_contact(phone="+14155552671")
    opt_in(contact, program)
    services.contact_erase(contact=contact)

    suppression = Suppression.objects.get()
    assert suppression.phone is None  # the number itself is gone
    assert suppression.reason == "legal_request"

    # The same number comes back in a later import, with a fresh opt-in.
    services.consent_opt_in(
        phone="4155552671", program=program, method="import", source="crm-export.csv row 2"
    )
    assert Contact.objects.filter(phone="+14155552671").exists()
    assert can_message("+14155552671", program).reason == Reason.SUPPRESSED
