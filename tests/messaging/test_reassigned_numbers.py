"""Reassigned-number checks: Twilio Lookup v2 through the real client against the local stand-in,
FCC Reassigned Numbers Database result files, and what a "yes" does to consent."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from consent.models import ConsentEvent, ConsentState, Suppression
from messaging.models import ReassignedNumberCheck
from messaging.providers import ProviderError
from messaging.reassigned import (
    CheckResult,
    RejectedRow,
    RndFileError,
    check_reassigned,
    import_fcc_rnd_results,
    reassigned_side_effects,
)
from tests.factories import create_contact, create_program, next_phone, opt_in
from tests.standin import fixtures
from tests.standin.twilio_standin import TwilioStandin

pytestmark = pytest.mark.django_db

# Until tests/conftest.py imports it for the whole suite.
twilio_standin = fixtures.twilio_standin

CONSENT_DAY = date(2024, 3, 1)


@pytest.fixture
def standin(twilio_standin: TwilioStandin):
    with override_settings(**twilio_standin.django_settings()):
        yield twilio_standin


# --- Twilio Lookup ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lookup_says", "stored"),
    [("yes", "yes"), ("no", "no"), ("no_data_available", "no_data")],
)
def test_it_asks_lookup_about_the_date_and_keeps_the_answer(standin, lookup_says, stored):
    phone = next_phone()
    contact = create_contact(phone)
    standin.set_reassigned(phone, lookup_says)
    before = timezone.now()

    check = check_reassigned(phone, CONSENT_DAY, contact=contact)

    [asked] = standin.lookups
    assert (asked.phone, asked.fields, asked.last_verified_date) == (
        phone,
        "reassigned_number",
        "20240301",
    )
    check.refresh_from_db()
    assert (check.phone, check.contact, check.date_asked) == (phone, contact, CONSENT_DAY)
    assert (check.answer, check.source) == (stored, "twilio_lookup")
    assert before <= check.checked_at <= timezone.now()
    assert check.raw["reassigned_number"] == {
        "last_verified_date": "2024-03-01",
        "is_number_reassigned": lookup_says,
        "error_code": None,
    }


def test_it_normalizes_the_number_and_keeps_every_check(standin):
    phone = next_phone()
    standin.set_reassigned(phone, "no")

    check_reassigned(f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}", CONSENT_DAY)
    check_reassigned(phone, CONSENT_DAY + timedelta(days=30))

    assert [c.date_asked for c in ReassignedNumberCheck.objects.filter(phone=phone)] == [
        CONSENT_DAY + timedelta(days=30),
        CONSENT_DAY,
    ]


def test_it_stores_nothing_when_lookup_has_no_answer(standin):
    phone = next_phone()
    standin.set_reassigned(phone, None, error_code=60617)

    with pytest.raises(ProviderError) as caught:
        check_reassigned(phone, CONSENT_DAY)

    assert (caught.value.transient, caught.value.code) == (False, 60617)
    assert not ReassignedNumberCheck.objects.exists()


def test_it_stores_nothing_when_lookup_is_down(standin):
    standin.fail_requests(503, count=1, scope="all")

    with pytest.raises(ProviderError) as caught:
        check_reassigned(next_phone(), CONSENT_DAY)

    assert caught.value.transient
    assert not ReassignedNumberCheck.objects.exists()


def test_it_refuses_to_ask_about_a_future_date(standin):
    with pytest.raises(ValueError, match="future"):
        check_reassigned(next_phone(), timezone.localdate() + timedelta(days=1))

    assert standin.lookups == []


def test_it_takes_another_checker():
    class Always:
        source = "test_checker"

        def check(self, phone: str, since: date) -> CheckResult:
            return CheckResult(answer="no_data", raw={"asked": [phone, since.isoformat()]})

    phone = next_phone()
    check = check_reassigned(phone, CONSENT_DAY, checker=Always())

    assert (check.answer, check.source) == ("no_data", "test_checker")
    assert check.raw == {"asked": [phone, "2024-03-01"]}


# --- FCC RND result files ---------------------------------------------------------------------


def csv_file(text: str, name: str = "rnd_results.csv") -> io.BytesIO:
    data = io.BytesIO(text.encode())
    data.name = name
    return data


def test_it_imports_an_fcc_result_file():
    known = create_contact(next_phone())
    p1, p2, p3 = next_phone(), next_phone(), known.phone
    text = (
        "Phone Number,Date,Result,Queried At\n"
        f"{p1[2:]},2024-03-01,No,2024-06-02T09:15:00-04:00\n"
        f"({p2[2:5]}) {p2[5:8]}-{p2[8:]},03/01/2024,YES,2024-06-02\n"
        f"{p3},20240115,no data,\n"
    )

    imported = import_fcc_rnd_results(csv_file(text))

    assert imported == 3
    checks = {c.phone: c for c in ReassignedNumberCheck.objects.all()}
    assert {p: (c.answer, c.date_asked) for p, c in checks.items()} == {
        p1: ("no", date(2024, 3, 1)),
        p2: ("yes", date(2024, 3, 1)),
        p3: ("no_data", date(2024, 1, 15)),
    }
    assert {c.source for c in checks.values()} == {"fcc_rnd_file"}
    assert checks[p1].checked_at == datetime.fromisoformat("2024-06-02T13:15:00+00:00")
    assert checks[p2].checked_at == timezone.make_aware(datetime(2024, 6, 2))
    assert checks[p3].contact == known and checks[p1].contact is None
    assert checks[p1].raw["file"] == "rnd_results.csv"
    assert checks[p1].raw["line"] == 2
    assert checks[p1].raw["row"]["phone"] == p1[2:]


def test_it_rejects_bad_rows_with_line_and_reason_and_keeps_the_good_ones():
    good = next_phone()
    tomorrow = timezone.localdate() + timedelta(days=1)
    text = (
        "phone_number,date,result,queried_at\n"
        f"{good},2024-03-01,no,\n"
        "555,2024-03-01,no,\n"
        f"{next_phone()},2024-13-01,no,\n"
        f"{next_phone()},2024-03-01,maybe,\n"
        ",2024-03-01,yes,\n"
        f"{next_phone()},,yes,\n"
        f"{next_phone()},{tomorrow:%Y-%m-%d},yes,\n"
        f"{next_phone()},2024-03-01,yes,2999-01-01T00:00:00+00:00\n"
        f"{next_phone()},2024-03-01,yes,yesterday\n"
    )
    rejected: list[RejectedRow] = []

    imported = import_fcc_rnd_results(csv_file(text), rejected=rejected)

    assert imported == 1
    assert list(ReassignedNumberCheck.objects.values_list("phone", flat=True)) == [good]
    reasons = {row.line: row.reason for row in rejected}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert "not a valid phone number" in reasons[3]
    assert "2024-13-01" in reasons[4]
    assert "maybe" in reasons[5]
    assert "phone number is empty" in reasons[6]
    assert "date is empty" in reasons[7]
    assert "after the query" in reasons[8]
    assert "future" in reasons[9]
    assert "yesterday" in reasons[10]
    assert str(rejected[0]).startswith("line 3: ")


def test_it_refuses_a_file_without_the_required_columns():
    with pytest.raises(RndFileError, match="no result column"):
        import_fcc_rnd_results(csv_file(f"phone,date\n{next_phone()},2024-03-01\n"))

    assert not ReassignedNumberCheck.objects.exists()


def test_it_refuses_the_same_file_twice(tmp_path):
    path = tmp_path / "rnd.csv"
    path.write_text(f"\ufeffphone,date,result\n{next_phone()},2024-03-01,no\n")
    assert import_fcc_rnd_results(path) == 1

    with pytest.raises(RndFileError, match="already imported"):
        import_fcc_rnd_results(str(path))

    assert ReassignedNumberCheck.objects.count() == 1


def test_it_imports_from_the_command_line(tmp_path, capsys):
    path = tmp_path / "rnd.csv"
    path.write_text(f"phone,date,result\n{next_phone()},2024-03-01,no\n")

    call_command("import_rnd_results", str(path))

    assert "Imported 1 reassigned-number checks from rnd.csv." in capsys.readouterr().out


def test_it_lists_rejected_rows_and_fails_from_the_command_line(tmp_path, capsys):
    path = tmp_path / "rnd.csv"
    path.write_text(f"phone,date,result\n{next_phone()},2024-03-01,no\n123,2024-03-01,no\n")

    with pytest.raises(CommandError, match="1 rows rejected"):
        call_command("import_rnd_results", str(path))

    captured = capsys.readouterr()
    assert "Imported 1 " in captured.out
    assert "rejected line 3: “123” is not a valid phone number" in captured.err
    assert ReassignedNumberCheck.objects.count() == 1


# --- what a "yes" does ------------------------------------------------------------------------


def make_check(contact, answer: str = "yes", phone: str | None = None) -> ReassignedNumberCheck:
    return ReassignedNumberCheck.objects.create(
        phone=phone or contact.phone,
        contact=contact,
        date_asked=CONSENT_DAY,
        answer=answer,
        source="twilio_lookup",
    )


def test_it_suppresses_the_number_and_revokes_all_consent_on_yes():
    offers, alerts = create_program("offers"), create_program("alerts")
    contact = create_contact()
    opt_in(contact, offers)
    opt_in(contact, alerts)
    check = make_check(contact)

    assert reassigned_side_effects(check) is True

    states = ConsentState.objects.filter(contact=contact)
    assert {s.status for s in states} == {"opted_out"}
    [suppression] = Suppression.objects.filter(phone=contact.phone)
    assert (suppression.reason, suppression.program) == ("reassigned", None)
    assert suppression.evidence["reassigned_check_id"] == check.pk
    revocations = ConsentEvent.objects.filter(contact=contact, kind="opt_out")
    assert revocations.count() == 2
    assert {e.method for e in revocations} == {"carrier"}
    assert all(f"check #{check.pk}" in e.source for e in revocations)
    assert all(e.occurred_at == check.checked_at for e in revocations)


def test_it_applies_a_yes_only_once():
    program = create_program()
    contact = create_contact()
    opt_in(contact, program)
    check = make_check(contact)

    reassigned_side_effects(check)
    reassigned_side_effects(check)

    assert ConsentEvent.objects.filter(contact=contact, kind="opt_out").count() == 1
    assert Suppression.objects.filter(phone=contact.phone).count() == 1


@pytest.mark.parametrize("answer", ["no", "no_data"])
def test_it_does_nothing_on_no_or_no_data(answer):
    program = create_program()
    contact = create_contact()
    opt_in(contact, program)

    assert reassigned_side_effects(make_check(contact, answer)) is False

    assert ConsentState.objects.get(contact=contact).status == "opted_in"
    assert not Suppression.objects.exists()


def test_it_only_suppresses_when_the_contact_has_another_number_now():
    program = create_program()
    contact = create_contact()
    opt_in(contact, program)
    old_number = next_phone()

    reassigned_side_effects(make_check(contact, phone=old_number))

    assert ConsentState.objects.get(contact=contact).status == "opted_in"
    assert Suppression.objects.get().phone == old_number


def test_it_suppresses_a_number_checked_without_a_contact():
    phone = next_phone()
    check = ReassignedNumberCheck.objects.create(
        phone=phone, date_asked=CONSENT_DAY, answer="yes", source="fcc_rnd_file"
    )

    reassigned_side_effects(check)

    assert Suppression.objects.get().phone == phone
