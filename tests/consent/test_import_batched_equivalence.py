"""The batched import path records exactly what the per-row path records, on a varied corpus.

The same file is imported twice from the same starting ledger: once row by row through
`ConsentImportResource` (one `consent_opt_in` per row), once through `consent.importing`
(`consent_opt_in_many` per batch). Ledger rows, states, suppressions, contacts and partner
webhook deliveries must be the same, apart from ids and the moments of writing.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from django.db import transaction
from import_export.formats.base_formats import CSV

from consent import ledger_hash, services
from consent.importing import BatchImport
from consent.models import (
    ConsentEvent,
    ConsentState,
    Contact,
    Disclosure,
    Suppression,
    SuppressionReason,
)
from consent.resources import ConsentImportResource
from messaging.models import WebhookDelivery, WebhookSubscription
from tests.factories import create_contact, create_program, create_user

pytestmark = pytest.mark.django_db

HEADER = [
    "phone",
    "first_name",
    "last_name",
    "email",
    "program",
    "opted_in_at",
    "method",
    "source",
    "disclosure_version",
    "ip",
]

NEW = "+14155550101"
KNOWN = "+14155550102"  # has a name, no e-mail
CAME_BACK = "+14155550103"  # opted in, then out: the import is a re-opt-in
LATER = "+14155550104"  # opted in in June: a January row is back-dated
SUPPRESSED = "+14155550105"  # suppressed for all programs (not erased): still recorded
ERASED = "+14155550106"  # erased on request: refused
PENDING = "+14155550107"  # double opt-in program
ALREADY = "+14155550108"  # the same row was imported before: skipped


def when(month: int, day: int = 1, hour: int = 10) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=UTC)


def row(phone: str, month: int, *, program: str = "offers", **changes: str) -> dict[str, str]:
    return {
        "phone": phone,
        "first_name": "",
        "last_name": "",
        "email": "",
        "program": program,
        "opted_in_at": f"2025-{month:02d}-01T10:00:00Z",
        "method": "web_form",
        "source": "https://acme.example/join",
        "disclosure_version": "",
        "ip": "203.0.113.9",
    } | changes


CORPUS = [
    row(NEW, 1, first_name="Ann", last_name="Lee", email="ann@example.com"),
    row(KNOWN, 2, first_name="Other", email="bo@example.com"),
    row(CAME_BACK, 4),
    row(LATER, 1),
    row(NEW, 1, first_name="Ann", last_name="Lee", email="ann@example.com"),  # repeated row
    row(NEW, 5, program="dbl", last_name="Ignored"),  # another program, same person
    row("(415) 555-0109", 3, first_name="Cy"),
    row("(415) 555-0109", 2, first_name="Cyril", email="cy@example.com"),  # back-dated in file
    row("(415) 555-0109", 6),  # and a later one: three in one batch
    row(SUPPRESSED, 2),
    row(ERASED, 2),
    row(PENDING, 2, program="dbl"),
    row(PENDING, 3, program="dbl"),  # still pending
    row(ALREADY, 1, source="fair booth"),
    row("415555", 1),  # bad number
    row(NEW, 1, program="nope"),  # unknown program
    row(NEW, 2, program="closed"),  # inactive program (the service refuses)
    row(KNOWN, 1, opted_in_at="2099-01-01T00:00:00Z"),  # in the future (the service refuses)
    row(KNOWN, 1, opted_in_at="15/01/2025"),  # unreadable date
    row(KNOWN, 1, source=""),  # no source
    row(KNOWN, 3, disclosure_version="7"),  # unknown disclosure version
    row(KNOWN, 3, disclosure_version="1"),  # an old version, explicitly
    row(CAME_BACK, 5, program="dbl"),
    row("+14155550110", 2, email="not-an-email"),  # bad e-mail
]


def csv_text(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADER)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@pytest.fixture
def history():
    """The ledger before the import: every case of the corpus that needs one."""
    offers = create_program("offers")
    Disclosure.objects.filter(program=offers).update(effective_at=when(1, 1, 0).replace(year=2024))
    Disclosure.objects.create(program=offers, version=2, text="Offers v2.", effective_at=when(3))
    dbl = create_program("dbl", double_opt_in=True)
    Disclosure.objects.filter(program=dbl).update(effective_at=when(1, 1, 0).replace(year=2024))
    create_program("closed", active=False)
    WebhookSubscription.objects.create(
        name="crm", url="https://crm.example/hook", events=["consent.opted_in"]
    )
    create_contact(KNOWN, first_name="Bo")
    came_back = create_contact(CAME_BACK)
    for at, revoke in ((when(1), False), (when(2), True)):
        if revoke:
            services.consent_revoke(
                contact=came_back,
                programs=[offers],
                method="keyword",
                source="STOP",
                occurred_at=at,
            )
        else:
            services.consent_opt_in(
                contact=came_back, program=offers, method="web_form", source="form", occurred_at=at
            )
    services.consent_opt_in(
        phone=LATER, program=offers, method="web_form", source="form", occurred_at=when(6)
    )
    services.suppression_add(phone=SUPPRESSED, reason=SuppressionReason.COMPLAINT)
    services.contact_erase(contact=create_contact(ERASED, first_name="Gone"), request_ref="R-1")
    ConsentImportResource().import_data(
        CSV().create_dataset(csv_text([row(ALREADY, 1, source="fair booth")])),
        file_name="earlier.csv",
    )


def snapshot() -> dict:
    """Everything the import may change, without ids or the moments of writing."""
    events = list(
        ConsentEvent.objects.order_by("pk").values(
            "pk",
            "contact__phone",
            "phone",
            "program__slug",
            "kind",
            "resulting_status",
            "method",
            "source",
            "disclosure__version",
            "disclosure_hash",
            "occurred_at",
            "recorded_by_label",
            "evidence",
            "note",
            "idempotency_key",
        )
    )
    position = {event.pop("pk"): n for n, event in enumerate(events)}
    states = sorted(
        (
            s.contact.phone or "",
            s.program.slug,
            s.status,
            position[s.last_event_id],
            s.since,
            s.opted_in_at,
            s.opted_out_at,
        )
        for s in ConsentState.objects.select_related("contact", "program")
    )
    suppressions = list(
        Suppression.objects.order_by("pk").values(
            "phone", "phone_hash", "reason", "program", "evidence", "note", "lifted_at"
        )
    )
    contacts = sorted(
        (c[0] or "", *c[1:])
        for c in Contact.objects.values_list(
            "phone", "phone_hash", "first_name", "last_name", "email", "erased_at"
        )
    )
    deliveries = sorted(
        (d.event_type, d.payload["data"]["phone"], d.payload["data"]["source"])
        for d in WebhookDelivery.objects.all()
    )
    return {
        "events": events,
        "states": states,
        "suppressions": suppressions,
        "contacts": contacts,
        "deliveries": deliveries,
    }


class _Undo(Exception):
    pass


def imported_per_row() -> tuple[dict, tuple, list]:
    result = ConsentImportResource(recorded_by_label="import").import_data(
        CSV().create_dataset(csv_text(CORPUS)), file_name="leads.csv"
    )
    totals = tuple(result.totals[k] for k in ("new", "skip", "invalid"))
    lines = sorted(invalid.number + 1 for invalid in result.invalid_rows)
    return snapshot(), totals, lines


def imported_batched(batch_rows: int) -> tuple[dict, tuple, list]:
    rejected: list[int] = []
    header = list(HEADER)
    rows = ((n, [r[c] for c in HEADER]) for n, r in enumerate(CORPUS, start=2))
    totals = BatchImport(header=header, file_name="leads.csv", batch_rows=batch_rows).run(
        rows, on_batch=lambda report: rejected.extend(r.line for r in report.rejected)
    )
    return snapshot(), (totals.new, totals.skip, totals.invalid), sorted(rejected)


def undone(run):
    """Run, capture what it left, then roll it back so the next run starts from the same ledger."""
    captured = {}
    try:
        with transaction.atomic():
            captured["value"] = run()
            raise _Undo
    except _Undo:
        pass
    return captured["value"]


@pytest.mark.parametrize("batch_rows", [1000, 4, 1])
def test_it_records_what_the_per_row_path_records(history, batch_rows):
    before = snapshot()
    per_row = undone(imported_per_row)
    assert snapshot() == before  # rolled back: the batched run starts from the same ledger
    batched = undone(lambda: imported_batched(batch_rows))

    assert batched[0]["events"] == per_row[0]["events"]
    assert batched[0]["states"] == per_row[0]["states"]
    assert batched[0]["suppressions"] == per_row[0]["suppressions"]
    assert batched[0]["contacts"] == per_row[0]["contacts"]
    assert batched[0]["deliveries"] == per_row[0]["deliveries"]
    assert batched[1:] == per_row[1:]
    # The corpus exercises what it claims to: new events of each kind, refusals, skips.
    new_events = per_row[0]["events"][len(before["events"]) :]
    assert {e["kind"] for e in new_events} == {"opt_in", "re_opt_in"}
    assert {e["resulting_status"] for e in new_events} == {"opted_in", "pending"}
    assert per_row[1] == (13, 2, 9)  # new, skipped, invalid
    assert len(new_events) == 13


def test_it_commits_each_batch_so_a_failure_keeps_the_batches_before(history, monkeypatch):
    rows = [row(f"+1415555{2000 + n}", 1) for n in range(6)]
    calls = {"n": 0}
    original = services.consent_opt_in_many

    def failing_on_second_batch(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("database went away")
        return original(**kwargs)

    monkeypatch.setattr(services, "consent_opt_in_many", failing_on_second_batch)
    importer = BatchImport(header=HEADER, file_name="big.csv", batch_rows=3)
    numbered = ((n, [r[c] for c in HEADER]) for n, r in enumerate(rows, start=2))
    with pytest.raises(RuntimeError):
        importer.run(numbered)

    sources = set(
        ConsentEvent.objects.filter(source__startswith="big.csv").values_list("source", flat=True)
    )
    assert sources == {"big.csv row 2", "big.csv row 3", "big.csv row 4"}


def test_it_records_who_imported(history):
    user = create_user("carl_compliance")
    BatchImport(header=HEADER, file_name="a.csv", user=user).run(
        [(2, [row(NEW, 1)[c] for c in HEADER])]
    )
    event = ConsentEvent.objects.get(source="a.csv row 2")
    assert event.recorded_by == user and event.method == "import"


def test_it_stores_odd_evidence_as_the_one_row_path_does_and_the_chain_verifies(db):
    """Many rows travel to the database in one document: what comes back, and so what the
    chain's hashes cover, is what the one-row path stores."""
    program = create_program("offers")
    evidence = {
        "big": 1e16,
        "small": 0.1,
        "zero": -0.0,
        "text": 'Olá "quoted" \\ back\nslash ✓',
        "nested": {"list": [1, 2.5, None, True]},
    }
    at = when(3, 4)
    [single] = [
        services.consent_opt_in(
            phone="+14155550101",
            program=program,
            method="web_form",
            source="one",
            occurred_at=at,
            evidence=evidence,
        )
    ]
    answers = services.consent_opt_in_many(
        opt_ins=[
            services.OptIn(
                phone=phone, program=program, source="many", occurred_at=at, evidence=evidence
            )
            for phone in ("+14155550102", "+14155550103")
        ],
        method="web_form",
    )

    stored = {
        e.phone: (e.evidence, e.occurred_at) for e in ConsentEvent.objects.filter(program=program)
    }
    assert stored["+14155550102"] == stored["+14155550101"] == stored["+14155550103"]
    assert stored["+14155550102"][1] == at
    for answer in [single, *answers]:
        event = ConsentEvent.objects.get(pk=answer.event.pk)
        assert event.chain_hash == ledger_hash.event_hash(event.chain_content())
