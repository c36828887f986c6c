"""Recording opt-ins, confirmations and opt-outs through the one service."""

from datetime import timedelta

import pytest
from django.utils import timezone

from consent import services
from consent.models import ConsentEvent, ConsentState, ConsentStatus, Contact, Suppression
from consent.phones import InvalidPhoneNumber
from tests.factories import create_contact, create_program, opt_in

pytestmark = pytest.mark.django_db


def state(contact, program) -> ConsentState:
    return ConsentState.objects.get(contact=contact, program=program)


def test_it_records_an_opt_in_with_full_provenance():
    program = create_program()
    recorded = services.consent_opt_in(
        phone="(415) 555-2671",
        program=program,
        method="web_form",
        source="https://acme.example/join/offers",
        evidence={"ip": "203.0.113.9", "user_agent": "Mozilla/5.0"},
    )
    event = recorded.event
    assert recorded.created
    assert event.phone == "+14155552671"
    assert event.kind == "opt_in"
    assert event.disclosure == program.disclosures.get()
    assert event.disclosure_hash == event.disclosure.text_hash
    assert event.evidence["ip"] == "203.0.113.9"
    assert state(event.contact, program).status == ConsentStatus.OPTED_IN
    assert state(event.contact, program).last_event == event


def test_it_keeps_a_double_opt_in_pending_until_confirmed():
    program = create_program(double_opt_in=True)
    contact = create_contact()
    opt_in(contact, program, confirmed=False)
    assert state(contact, program).status == ConsentStatus.PENDING

    services.consent_confirm(
        contact=contact, program=program, method="keyword", source="YES to +18005550100"
    )
    assert state(contact, program).status == ConsentStatus.OPTED_IN
    kinds = list(ConsentEvent.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == ["opt_in", "opt_in_confirmed"]


def test_it_refuses_to_confirm_without_a_pending_opt_in():
    program = create_program(double_opt_in=True)
    contact = create_contact()
    with pytest.raises(services.ConsentError) as caught:
        services.consent_confirm(contact=contact, program=program, method="keyword", source="YES")
    assert caught.value.code == "not_pending"
    assert not ConsentEvent.objects.exists()


def test_it_records_a_re_opt_in_after_an_opt_out():
    program = create_program()
    contact = create_contact()
    opt_in(contact, program)
    services.consent_revoke(
        contact=contact, programs=[program], method="keyword", source="STOP to +18005550100"
    )
    assert state(contact, program).status == ConsentStatus.OPTED_OUT
    event = opt_in(contact, program, method="keyword", source="START to +18005550100")
    assert event.kind == "re_opt_in"
    assert state(contact, program).status == ConsentStatus.OPTED_IN


def test_it_records_an_opt_out_even_without_an_earlier_opt_in():
    program = create_program()
    [recorded] = services.consent_revoke(
        phone="415-555-2671", programs=[program], method="verbal", source="call with support"
    )
    assert recorded.event.kind == "opt_out"
    assert state(recorded.event.contact, program).status == ConsentStatus.OPTED_OUT


def test_it_revokes_every_program_and_suppresses_the_number_on_revoke_all():
    offers, reminders = create_program("offers"), create_program("appointments")
    contact = create_contact()
    opt_in(contact, offers)
    opt_in(contact, reminders)
    results = services.consent_revoke(
        contact=contact, revoke_all=True, method="keyword", source="STOPALL to +18005550100"
    )
    assert {r.event.program for r in results} == {offers, reminders}
    assert all(state(contact, p).status == ConsentStatus.OPTED_OUT for p in (offers, reminders))
    suppression = Suppression.objects.get()
    assert suppression.phone == contact.phone
    assert suppression.program is None
    assert suppression.reason == "opt_out_all"


def test_it_does_not_let_a_back_dated_event_override_a_newer_one():
    program = create_program()
    contact = create_contact()
    services.consent_revoke(contact=contact, programs=[program], method="keyword", source="STOP")
    opt_in(
        contact,
        program,
        at=timezone.now() - timedelta(days=30),
        method="import",
        source="legacy.csv row 4",
    )
    assert ConsentEvent.objects.count() == 2
    assert state(contact, program).status == ConsentStatus.OPTED_OUT


def test_it_returns_the_first_event_for_a_repeated_idempotency_key():
    program = create_program()
    kwargs = dict(
        phone="4155552671", program=program, method="api", source="crm", idempotency_key="abc"
    )
    first = services.consent_opt_in(**kwargs)
    second = services.consent_opt_in(**kwargs)
    assert first.created and not second.created
    assert first.event == second.event
    assert ConsentEvent.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"source": ""}, "missing_source"),
        ({"source": "   "}, "missing_source"),
        ({"method": "telepathy"}, "invalid_method"),
        ({"occurred_at": timezone.now() + timedelta(days=1)}, "future_datetime"),
    ],
)
def test_it_rejects_missing_or_bad_provenance_and_writes_nothing(kwargs, code):
    program = create_program()
    base = dict(phone="4155552671", program=program, method="web_form", source="https://x.example")
    with pytest.raises(services.ConsentError) as caught:
        services.consent_opt_in(**(base | kwargs))
    assert caught.value.code == code
    assert not ConsentEvent.objects.exists()
    assert not Contact.objects.exists()


def test_it_rejects_a_malformed_phone_and_writes_nothing():
    program = create_program()
    with pytest.raises(InvalidPhoneNumber):
        services.consent_opt_in(phone="555-0100", program=program, method="api", source="crm")
    assert not ConsentEvent.objects.exists()


def test_it_refuses_an_opt_in_to_an_inactive_program():
    program = create_program(active=False)
    with pytest.raises(services.ConsentError) as caught:
        services.consent_opt_in(phone="4155552671", program=program, method="api", source="crm")
    assert caught.value.code == "program_inactive"


def test_it_records_the_disclosure_in_effect_when_the_person_acted():
    from consent.models import Disclosure

    program = create_program()
    v1 = program.disclosures.get()
    v2 = Disclosure.objects.create(
        program=program,
        version=2,
        text="New wording, STOP to end.",
        effective_at=timezone.now() - timedelta(days=1),
    )
    old = opt_in(create_contact(), program, at=timezone.now() - timedelta(days=10))
    new = opt_in(create_contact(), program)
    assert old.disclosure == v1
    assert new.disclosure == v2
    assert new.disclosure_hash == v2.text_hash != v1.text_hash
