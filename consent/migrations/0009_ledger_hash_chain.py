"""Every consent event joins its contact's hash chain; existing events are chained in event
order (by id, per contact). Also: daily ledger roots, and the check constraints that hold a
consent state to its event and a lift to its reason.

On PostgreSQL the ledger's append-only trigger is switched off for the backfill only, inside
this migration's transaction, and on again before it commits.
"""

import django.db.models.functions.text
import django.db.models.lookups
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from consent import ledger_hash

BATCH = 2000


def chain_existing_events(apps, schema_editor):
    ConsentEvent = apps.get_model("consent", "ConsentEvent")
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:
        schema_editor.execute(
            "ALTER TABLE consent_consentevent DISABLE TRIGGER consent_event_append_only"
        )
    fields = [name for name in ledger_hash.HASHED_FIELDS if name not in ("chain_seq", "prev_hash")]
    heads = {}
    pending = []
    rows = ConsentEvent.objects.order_by("contact_id", "id").values("id", *fields)
    for row in rows.iterator(chunk_size=BATCH):
        seq, previous = heads.get(row["contact_id"], (0, ""))
        event = ConsentEvent(id=row["id"], chain_seq=seq + 1, prev_hash=previous)
        event.chain_hash = ledger_hash.event_hash(
            {**row, "chain_seq": event.chain_seq, "prev_hash": previous}
        )
        heads[row["contact_id"]] = (event.chain_seq, event.chain_hash)
        pending.append(event)
        if len(pending) >= BATCH:
            ConsentEvent.objects.bulk_update(pending, ["chain_seq", "prev_hash", "chain_hash"])
            pending = []
    if pending:
        ConsentEvent.objects.bulk_update(pending, ["chain_seq", "prev_hash", "chain_hash"])
    if postgres:
        schema_editor.execute(
            "ALTER TABLE consent_consentevent ENABLE TRIGGER consent_event_append_only"
        )


class Migration(migrations.Migration):

    dependencies = [
        ('consent', '0008_contact_preferences'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='LedgerRoot',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('date', models.DateField(unique=True)),
                ('cutoff', models.DateTimeField(help_text='Covers events recorded before this moment.')),
                ('previous_hash', models.CharField(blank=True, max_length=64)),
                ('root_hash', models.CharField(max_length=64)),
                ('chains', models.PositiveIntegerField(help_text='Contacts with at least one event covered.')),
                ('events', models.PositiveBigIntegerField(help_text='Events covered.')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'ordering': ['-date'],
            },
        ),
        migrations.AddField(
            model_name='consentevent',
            name='chain_hash',
            field=models.CharField(default='', editable=False, help_text="SHA-256 of this event's recorded content, its place and the previous hash.", max_length=64),
        ),
        migrations.AddField(
            model_name='consentevent',
            name='chain_seq',
            field=models.PositiveIntegerField(editable=False, help_text="Place in the contact's hash chain: 1, 2, 3 ...", null=True),
        ),
        migrations.AddField(
            model_name='consentevent',
            name='prev_hash',
            field=models.CharField(blank=True, editable=False, help_text="The previous event's chain hash.", max_length=64),
        ),
        migrations.RunPython(chain_existing_events, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='consentevent',
            name='chain_hash',
            field=models.CharField(editable=False, help_text="SHA-256 of this event's recorded content, its place and the previous hash.", max_length=64),
        ),
        migrations.AlterField(
            model_name='consentevent',
            name='chain_seq',
            field=models.PositiveIntegerField(editable=False, help_text="Place in the contact's hash chain: 1, 2, 3 ..."),
        ),
        migrations.AddConstraint(
            model_name='consentevent',
            constraint=models.UniqueConstraint(fields=('contact', 'chain_seq'), name='consent_event_chain_seq'),
        ),
        migrations.AddConstraint(
            model_name='consentevent',
            constraint=models.CheckConstraint(condition=models.Q(django.db.models.lookups.Exact(django.db.models.functions.text.Length('chain_hash'), 64), models.Q(models.Q(('chain_seq', 1), ('prev_hash', '')), models.Q(models.Q(('chain_seq__gt', 1)), django.db.models.lookups.Exact(django.db.models.functions.text.Length('prev_hash'), 64)), _connector='OR')), name='consent_event_chained'),
        ),
        migrations.AddConstraint(
            model_name='consentstate',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('status', 'opted_in'), _negated=True), models.Q(('opted_in_at__isnull', False), ('opted_in_at__lte', models.F('since'))), _connector='OR'), name='consent_state_opted_in_has_start'),
        ),
        migrations.AddConstraint(
            model_name='consentstate',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('status', 'opted_out'), _negated=True), ('opted_out_at', models.F('since')), _connector='OR'), name='consent_state_opted_out_at_its_event'),
        ),
        migrations.AddConstraint(
            model_name='suppression',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('lift_note', ''), ('lifted_at__isnull', True), ('lifted_by__isnull', True)), models.Q(('lifted_at__isnull', False), models.Q(('lift_note', ''), _negated=True)), _connector='OR'), name='suppression_lifted_with_a_reason'),
        ),
    ]
