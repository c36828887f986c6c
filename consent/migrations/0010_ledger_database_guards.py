"""On PostgreSQL the database itself holds what the models hold:

- a suppression can only be lifted, once, or lose an erased number; never deleted;
- a consent state must follow from the ledger event it points at (same contact, program,
  status and time; a status-setting event, and the latest one for its program);
- ledger roots are append-only, like the ledger;
- the ledger, its confirmations, suppressions and roots cannot be truncated (statement-level
  BEFORE TRUNCATE guards). A session that sets `consent.allow_truncate = on` may: the test
  suite does for its own flushes. In production the application role has no TRUNCATE
  privilege at all (docs/deployment-roles.md).
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION consent_suppression_lift_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'suppressions are never deleted (suppression %)', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.lifted_at IS NULL AND NEW.lifted_at IS NOT NULL
        AND to_jsonb(NEW) - 'lifted_at' - 'lifted_by_id' - 'lift_note'
            = to_jsonb(OLD) - 'lifted_at' - 'lifted_by_id' - 'lift_note' THEN
        RETURN NEW;
    END IF;
    IF NEW.phone IS NULL AND to_jsonb(NEW) - 'phone' = to_jsonb(OLD) - 'phone' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'suppression % can only be lifted, once (or lose an erased number)', OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER consent_suppression_lift_only
    BEFORE UPDATE OR DELETE ON consent_suppression
    FOR EACH ROW EXECUTE FUNCTION consent_suppression_lift_only();

CREATE OR REPLACE FUNCTION consent_state_follows_ledger() RETURNS trigger AS $$
DECLARE
    event consent_consentevent%ROWTYPE;
BEGIN
    SELECT * INTO event FROM consent_consentevent WHERE id = NEW.last_event_id;
    IF NOT FOUND OR event.kind = 'preference'
        OR event.contact_id <> NEW.contact_id OR event.program_id <> NEW.program_id
        OR event.resulting_status <> NEW.status OR event.occurred_at <> NEW.since THEN
        RAISE EXCEPTION 'the consent state of contact % for program % does not follow from '
            'ledger event %', NEW.contact_id, NEW.program_id, NEW.last_event_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF EXISTS (
        SELECT 1 FROM consent_consentevent later
        WHERE later.contact_id = NEW.contact_id AND later.program_id = NEW.program_id
            AND later.kind <> 'preference'
            AND (later.occurred_at, later.id) > (event.occurred_at, event.id)
    ) THEN
        RAISE EXCEPTION 'the consent state of contact % for program % points at ledger event %, '
            'but a later event sets it', NEW.contact_id, NEW.program_id, NEW.last_event_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- AFTER, so that an upsert whose update is skipped (a back-dated event) checks nothing.
CREATE TRIGGER consent_state_follows_ledger
    AFTER INSERT OR UPDATE ON consent_consentstate
    FOR EACH ROW EXECUTE FUNCTION consent_state_follows_ledger();

CREATE TRIGGER consent_ledger_root_append_only
    BEFORE UPDATE OR DELETE ON consent_ledgerroot
    FOR EACH ROW EXECUTE FUNCTION consent_ledger_append_only();

CREATE OR REPLACE FUNCTION consent_ledger_no_truncate() RETURNS trigger AS $$
BEGIN
    IF current_setting('consent.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION '% belongs to the consent ledger and cannot be truncated', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER consent_event_no_truncate BEFORE TRUNCATE ON consent_consentevent
    FOR EACH STATEMENT EXECUTE FUNCTION consent_ledger_no_truncate();
CREATE TRIGGER consent_confirmation_no_truncate BEFORE TRUNCATE ON consent_consentconfirmation
    FOR EACH STATEMENT EXECUTE FUNCTION consent_ledger_no_truncate();
CREATE TRIGGER consent_suppression_no_truncate BEFORE TRUNCATE ON consent_suppression
    FOR EACH STATEMENT EXECUTE FUNCTION consent_ledger_no_truncate();
CREATE TRIGGER consent_ledger_root_no_truncate BEFORE TRUNCATE ON consent_ledgerroot
    FOR EACH STATEMENT EXECUTE FUNCTION consent_ledger_no_truncate();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS consent_ledger_root_no_truncate ON consent_ledgerroot;
DROP TRIGGER IF EXISTS consent_suppression_no_truncate ON consent_suppression;
DROP TRIGGER IF EXISTS consent_confirmation_no_truncate ON consent_consentconfirmation;
DROP TRIGGER IF EXISTS consent_event_no_truncate ON consent_consentevent;
DROP FUNCTION IF EXISTS consent_ledger_no_truncate();
DROP TRIGGER IF EXISTS consent_ledger_root_append_only ON consent_ledgerroot;
DROP TRIGGER IF EXISTS consent_state_follows_ledger ON consent_consentstate;
DROP FUNCTION IF EXISTS consent_state_follows_ledger();
DROP TRIGGER IF EXISTS consent_suppression_lift_only ON consent_suppression;
DROP FUNCTION IF EXISTS consent_suppression_lift_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("consent", "0009_ledger_hash_chain")]
    operations = [migrations.RunPython(forward, backward)]
