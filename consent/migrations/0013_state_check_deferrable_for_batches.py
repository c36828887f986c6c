"""The state-follows-ledger check may wait for commit in a batched import.

A batch inserts all its ledger events, then brings the states up to date in waves (earliest
event first), so a state may point for a moment at an event that a later event of the same
batch supersedes. The check stays immediate for every other writer; the batched writer defers
it (`SET CONSTRAINTS consent_state_follows_ledger DEFERRED`), and the function reads the state
row as it is when the check runs, so at commit it judges the final state.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION consent_state_follows_ledger() RETURNS trigger AS $$
DECLARE
    state consent_consentstate%ROWTYPE;
    event consent_consentevent%ROWTYPE;
BEGIN
    SELECT * INTO state FROM consent_consentstate WHERE id = NEW.id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT * INTO event FROM consent_consentevent WHERE id = state.last_event_id;
    IF NOT FOUND OR event.kind = 'preference'
        OR event.contact_id <> state.contact_id OR event.program_id <> state.program_id
        OR event.resulting_status <> state.status OR event.occurred_at <> state.since THEN
        RAISE EXCEPTION 'the consent state of contact % for program % does not follow from '
            'ledger event %', state.contact_id, state.program_id, state.last_event_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF EXISTS (
        SELECT 1 FROM consent_consentevent later
        WHERE later.contact_id = state.contact_id AND later.program_id = state.program_id
            AND later.kind <> 'preference'
            AND (later.occurred_at, later.id) > (event.occurred_at, event.id)
    ) THEN
        RAISE EXCEPTION 'the consent state of contact % for program % points at ledger event %, '
            'but a later event sets it', state.contact_id, state.program_id, state.last_event_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS consent_state_follows_ledger ON consent_consentstate;
CREATE CONSTRAINT TRIGGER consent_state_follows_ledger
    AFTER INSERT OR UPDATE ON consent_consentstate
    DEFERRABLE INITIALLY IMMEDIATE
    FOR EACH ROW EXECUTE FUNCTION consent_state_follows_ledger();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS consent_state_follows_ledger ON consent_consentstate;
CREATE TRIGGER consent_state_follows_ledger
    AFTER INSERT OR UPDATE ON consent_consentstate
    FOR EACH ROW EXECUTE FUNCTION consent_state_follows_ledger();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("consent", "0012_contact_phone_suffix_index")]
    operations = [migrations.RunPython(forward, backward)]
