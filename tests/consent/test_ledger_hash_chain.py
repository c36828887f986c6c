"""Tampering with the ledger is detectable even by the database's owner: each contact's events
form a hash chain, a daily root covers every chain, and `ledger_verify` names the first event
that was altered, reordered or removed."""

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from consent import ledger_hash, services
from consent.ledger_chain import chain_for, root_covering, root_publish
from consent.models import ConsentEvent, LedgerRoot
from tests.factories import create_contact, create_program, opt_in

pytestmark = pytest.mark.django_db

YESTERDAY = (timezone.now() - timedelta(days=1)).astimezone(UTC).date()


@contextmanager
def recorded_on(day, monkeypatch):
    """Write ledger events as if it were noon of `day` (UTC)."""
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    with monkeypatch.context() as patch:
        patch.setattr(timezone, "now", lambda: noon)
        yield noon


def revoke(contact, program, **fields):
    return services.consent_revoke(
        contact=contact, programs=[program], method="keyword", source="STOP to 12345", **fields
    )


@pytest.fixture
def ledger(monkeypatch):
    """Two people, three events each, recorded yesterday; (ann, bob, offers)."""
    offers, alerts = create_program("offers"), create_program("alerts")
    ann, bob = create_contact(), create_contact()
    with recorded_on(YESTERDAY, monkeypatch) as noon:
        for person in (ann, bob):
            opt_in(person, offers, at=noon - timedelta(hours=2))
            opt_in(person, alerts, at=noon - timedelta(hours=1))
            revoke(person, offers, evidence={"raw_text": "STOP", "score": 0.1, "big": 1e16})
    return ann, bob, offers


def events_of(contact):
    return list(ConsentEvent.objects.filter(contact=contact).order_by("chain_seq"))


def test_it_chains_each_contacts_events_in_order(ledger):
    ann, bob, _ = ledger
    events = events_of(ann)

    assert [e.chain_seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == ""
    assert [e.prev_hash for e in events[1:]] == [e.chain_hash for e in events[:-1]]
    for event in events:
        assert event.chain_hash == ledger_hash.event_hash(event.chain_content())
    assert events_of(bob)[0].prev_hash == ""  # every contact has its own chain


def test_it_hashes_what_the_database_gives_back(ledger):
    ann, _, _ = ledger
    # Read afresh: jsonb gives 1e16 back as an integer, and the hash still matches.
    stored = ConsentEvent.objects.get(contact=ann, kind="opt_out")
    assert stored.evidence["score"] == 0.1
    assert stored.chain_hash == ledger_hash.event_hash(stored.chain_content())


def test_it_chains_events_inserted_through_the_orm_too(ledger):
    ann, _, _ = ledger
    from consent.models import ConsentMethod, ConsentState

    state = ConsentState.objects.filter(contact=ann).first()
    ConsentEvent.objects.bulk_create(
        [
            ConsentEvent(
                contact=ann,
                phone=ann.phone,
                program=state.program,
                kind="preference",
                resulting_status=state.status,
                method=ConsentMethod.PREFERENCE_CENTRE,
                source="preference centre",
                occurred_at=timezone.now(),
            )
        ]
    )
    assert [e.chain_seq for e in events_of(ann)] == [1, 2, 3, 4]
    call_command("ledger_verify")


def test_it_verifies_an_untouched_ledger(ledger, capsys):
    call_command("ledger_verify")
    assert "ok: 2 chains, 6 events verified" in capsys.readouterr().out


def test_it_keeps_verifying_after_an_erasure(ledger, capsys):
    ann, _, _ = ledger
    phone = ann.phone

    services.contact_erase(contact=ann)

    call_command("ledger_verify")
    chain = chain_for(phone)
    assert [link["chain_seq"] for link in chain] == [1, 2, 3]
    assert all(link["valid"] for link in chain)
    assert chain_for(ann) == chain


# --- Tampering, by someone who can bypass every trigger (PostgreSQL) ----------------------------


def as_owner(*statements: str) -> None:
    """Run SQL with the append-only triggers off, as a database owner or superuser could."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        for statement in statements:
            cursor.execute(statement)
        cursor.execute("SET LOCAL session_replication_role = origin")


def verify_fails(*args) -> str:
    with pytest.raises(CommandError) as failure:
        call_command("ledger_verify", *args)
    return str(failure.value)


@pytest.mark.postgres
def test_it_names_an_altered_event(ledger):
    ann, _, _ = ledger
    second = events_of(ann)[1]
    as_owner(f"UPDATE consent_consentevent SET source = 'forged' WHERE id = {second.pk}")

    message = verify_fails()

    assert f"contact #{ann.pk}, event #{second.pk} (chain place 2): altered" in message


@pytest.mark.postgres
def test_it_names_the_event_after_a_removed_one(ledger):
    ann, _, _ = ledger
    _, second, third = events_of(ann)
    as_owner(
        f"DELETE FROM consent_consentstate WHERE last_event_id = {second.pk}",
        f"DELETE FROM consent_consentevent WHERE id = {second.pk}",
    )

    message = verify_fails()

    assert f"contact #{ann.pk}, event #{third.pk} (chain place 3): events are missing" in message


@pytest.mark.postgres
def test_it_names_reordered_events(ledger):
    ann, _, _ = ledger
    first, second, _ = events_of(ann)
    # Swap the two rows' places in the table (their ids), content untouched.
    as_owner(
        f"UPDATE consent_consentevent SET id = -1 WHERE id = {first.pk}",
        f"UPDATE consent_consentevent SET id = {first.pk} WHERE id = {second.pk}",
        f"UPDATE consent_consentevent SET id = {second.pk} WHERE id = -1",
    )

    message = verify_fails()

    assert f"contact #{ann.pk}, event #{first.pk} (chain place 2): out of order" in message


def rewrite_chain(contact, **changes) -> ConsentEvent:
    """Alter the contact's first event and re-hash its whole chain, consistently: the chain on
    its own then verifies; only a root published before can tell."""
    previous = ""
    altered = None
    for event in events_of(contact):
        for name, value in changes.items() if event.chain_seq == 1 else ():
            setattr(event, name, value)
            altered = event
        event.prev_hash = previous
        event.chain_hash = ledger_hash.event_hash(event.chain_content())
        previous = event.chain_hash
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute(
                "UPDATE consent_consentevent SET source = %s, prev_hash = %s, chain_hash = %s "
                "WHERE id = %s",
                [event.source, event.prev_hash, event.chain_hash, event.pk],
            )
            cursor.execute("SET LOCAL session_replication_role = origin")
    return altered


@pytest.mark.postgres
def test_it_names_a_rewritten_chain_against_the_root_file(ledger, tmp_path):
    ann, _, _ = ledger
    call_command("ledger_root", "--date", YESTERDAY.isoformat(), "--output", str(tmp_path))
    root_file = tmp_path / f"ledger-root-{YESTERDAY.isoformat()}.txt"
    call_command("ledger_verify", "--root", str(root_file))

    rewrite_chain(ann, source="a form the person never saw")
    head = events_of(ann)[-1]

    message = verify_fails("--root", str(root_file))
    assert f"contact #{ann.pk}, event #{head.pk} (chain place 3): differs from the root" in message
    # Against the database's own row the root no longer recomputes either.
    root = LedgerRoot.objects.get(date=YESTERDAY)
    assert "no longer hashes to the root" in verify_fails("--root", str(root.pk))


@pytest.mark.postgres
def test_it_names_a_chain_cut_short_since_the_root(ledger, tmp_path):
    ann, _, _ = ledger
    root = root_publish(YESTERDAY)
    call_command("ledger_root", "--date", YESTERDAY.isoformat(), "--output", str(tmp_path))
    *kept, last = events_of(ann)
    as_owner(
        f"DELETE FROM consent_consentstate WHERE contact_id = {ann.pk}",
        f"DELETE FROM consent_consentevent WHERE id = {last.pk}",
    )

    message = verify_fails("--root", str(tmp_path / f"ledger-root-{YESTERDAY.isoformat()}.txt"))

    assert f"contact #{ann.pk}, event #{kept[-1].pk} (chain place 2): events up to" in message
    assert "no longer hashes" in verify_fails("--root", YESTERDAY.isoformat())
    assert root.events == 6


# --- Roots ---------------------------------------------------------------------------------------


def test_it_publishes_one_root_a_day_and_its_file(ledger, tmp_path, capsys):
    ann, _, _ = ledger
    call_command("ledger_root", "--date", YESTERDAY.isoformat(), "--output", str(tmp_path))
    call_command("ledger_root", "--date", YESTERDAY.isoformat())

    root = LedgerRoot.objects.get()
    assert (root.chains, root.events, root.previous_hash) == (2, 6, "")
    lines = (tmp_path / f"ledger-root-{YESTERDAY.isoformat()}.txt").read_text().splitlines()
    heads = [tuple(line.split()) for line in lines[1:]]
    assert ledger_hash.root_hash("", [(int(c), int(s), h) for c, s, h in heads]) == root.root_hash
    last = events_of(ann)[-1]
    assert (str(ann.pk), "3", last.chain_hash) in heads
    assert root_covering(last) == root

    with pytest.raises(CommandError, match="not over yet"):
        call_command("ledger_root", "--date", timezone.now().date().isoformat())


def test_it_leaves_later_events_out_of_a_root_and_chains_roots(ledger):
    ann, _, offers = ledger
    first = root_publish(YESTERDAY - timedelta(days=1))
    root = root_publish(YESTERDAY)
    opt_in(ann, offers)  # today: after the cutoff

    assert (first.events, root.events, root.previous_hash) == (0, 6, first.root_hash)
    assert root_covering(events_of(ann)[-1]) is None
    call_command("ledger_verify")


def test_it_creates_the_daily_root_schedule(monkeypatch):
    from django_q.models import Schedule

    from consent.tasks import publish_ledger_root

    call_command("setup_schedules")
    schedule = Schedule.objects.get(func="consent.tasks.publish_ledger_root")
    assert schedule.minutes == 24 * 60
    assert publish_ledger_root()["date"] == YESTERDAY.isoformat()


def test_it_refuses_a_root_file_whose_heads_were_edited(ledger, tmp_path):
    ann, _, _ = ledger
    call_command("ledger_root", "--date", YESTERDAY.isoformat(), "--output", str(tmp_path))
    path = tmp_path / f"ledger-root-{YESTERDAY.isoformat()}.txt"
    header, *heads = path.read_text().splitlines(keepends=True)
    # Someone drops a person's chain from the file, so that a forged chain would not be compared.
    path.write_text(header + "".join(line for line in heads if not line.startswith(f"{ann.pk} ")))

    from consent.ledger_chain import RootClaim, ledger_verify

    result = ledger_verify(RootClaim.from_file(path))

    assert not result.ok
    assert any("do not hash to its root" in problem for problem in result.root_problems)
    assert [(p.contact_id, p.chain_seq) for p in result.problems] == [(ann.pk, 3)]
    assert "the root has no chain for it" in result.problems[0].what


def test_it_writes_the_daily_root_file_where_the_operator_keeps_them(ledger, tmp_path, settings):
    from consent.tasks import publish_ledger_root

    settings.LEDGER_ROOT_DIR = str(tmp_path / "roots")

    done = publish_ledger_root()

    assert done["file"].endswith(f"roots/ledger-root-{YESTERDAY.isoformat()}.txt")
    call_command("ledger_verify", "--root", done["file"])
