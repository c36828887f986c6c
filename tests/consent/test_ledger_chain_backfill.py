"""Events recorded before the hash chain existed are chained by its migration, in event order."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from consent import ledger_hash
from consent.ledger_chain import ledger_verify

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

BEFORE = [("consent", "0008_contact_preferences")]


def test_it_chains_existing_events_in_event_order():
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    Contact = apps.get_model("consent", "Contact")
    Program = apps.get_model("consent", "Program")
    ConsentEvent = apps.get_model("consent", "ConsentEvent")
    program = Program.objects.create(slug="old", name="Old", brand_name="Acme")
    ann = Contact.objects.create(phone="+14155552671", phone_hash="a")
    bob = Contact.objects.create(phone="+14155552672", phone_hash="b")
    at = datetime(2025, 1, 1, tzinfo=UTC)
    common = {"program": program, "method": "keyword", "source": "STOP", "occurred_at": at}
    made = [
        ConsentEvent.objects.create(
            contact=person,
            phone=person.phone,
            kind=kind,
            resulting_status=status,
            evidence={"n": n, "f": 1e16},
            **common,
        )
        for n, (person, kind, status) in enumerate(
            [
                (ann, "opt_in", "opted_in"),
                (bob, "opt_in", "opted_in"),
                (ann, "opt_out", "opted_out"),
                (ann, "re_opt_in", "opted_in"),
            ]
        )
    ]
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # nothing pending before ALTER TABLE

    executor = MigrationExecutor(connection)
    executor.migrate(leaves)

    from consent.models import ConsentEvent as Event

    chained = list(Event.objects.filter(contact_id=ann.pk).order_by("id"))
    assert [e.pk for e in chained] == [made[0].pk, made[2].pk, made[3].pk]
    assert [e.chain_seq for e in chained] == [1, 2, 3]
    assert [e.prev_hash for e in chained] == ["", chained[0].chain_hash, chained[1].chain_hash]
    assert all(e.chain_hash == ledger_hash.event_hash(e.chain_content()) for e in chained)
    assert Event.objects.get(pk=made[1].pk).chain_seq == 1
    result = ledger_verify()
    assert result.ok, result.problems
    assert (result.chains, result.events) == (2, 4)
