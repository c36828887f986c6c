"""On PostgreSQL the database itself refuses to rewrite or delete consent ledger rows.

Row-level triggers (not TRUNCATE ones) so that test-database flushes still work; a referenced
disclosure's text is protected the same way.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION consent_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'consent ledger rows are append-only (% on %)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER consent_event_append_only
    BEFORE UPDATE OR DELETE ON consent_consentevent
    FOR EACH ROW EXECUTE FUNCTION consent_ledger_append_only();

CREATE TRIGGER consent_confirmation_append_only
    BEFORE UPDATE OR DELETE ON consent_consentconfirmation
    FOR EACH ROW EXECUTE FUNCTION consent_ledger_append_only();

CREATE OR REPLACE FUNCTION consent_disclosure_frozen() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM consent_consentevent WHERE disclosure_id = OLD.id) AND (
        TG_OP = 'DELETE' OR NEW.text IS DISTINCT FROM OLD.text
        OR NEW.version IS DISTINCT FROM OLD.version
        OR NEW.program_id IS DISTINCT FROM OLD.program_id
    ) THEN
        RAISE EXCEPTION 'disclosure % is referenced by consent records and is frozen', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER consent_disclosure_frozen
    BEFORE UPDATE OR DELETE ON consent_disclosure
    FOR EACH ROW EXECUTE FUNCTION consent_disclosure_frozen();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS consent_disclosure_frozen ON consent_disclosure;
DROP FUNCTION IF EXISTS consent_disclosure_frozen();
DROP TRIGGER IF EXISTS consent_confirmation_append_only ON consent_consentconfirmation;
DROP TRIGGER IF EXISTS consent_event_append_only ON consent_consentevent;
DROP FUNCTION IF EXISTS consent_ledger_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("consent", "0001_consent_ledger")]
    operations = [migrations.RunPython(forward, backward)]
