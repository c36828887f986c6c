"""The state-follows-ledger check plans its ledger look-ups for each call.

PostgreSQL keeps a function's query plans for the session. Planned while the ledger was small
(a new installation, or before statistics caught up), the "is there a later event" look-up
stays a sequential scan, and a long import then slows with every row it adds (each check
reads the whole ledger). Planned per call, it follows the index on (contact, program, time)
whatever the statistics say, for the cost of planning one small query.
"""

from django.db import migrations

FORWARD = "ALTER FUNCTION consent_state_follows_ledger() SET plan_cache_mode = force_custom_plan"
BACKWARD = "ALTER FUNCTION consent_state_follows_ledger() RESET plan_cache_mode"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("consent", "0013_state_check_deferrable_for_batches")]
    operations = [migrations.RunPython(forward, backward)]
