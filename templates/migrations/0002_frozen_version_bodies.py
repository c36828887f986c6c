"""The database refuses to change the body of a version that has left draft."""

from django.db import migrations

POSTGRES = """
CREATE OR REPLACE FUNCTION templates_version_body_frozen() RETURNS trigger AS $$
BEGIN
    IF OLD.status <> 'draft' AND NEW.body IS DISTINCT FROM OLD.body THEN
        RAISE EXCEPTION 'template version % is frozen: edit it as a new version', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER templates_version_body_frozen
    BEFORE UPDATE ON templates_templateversion
    FOR EACH ROW EXECUTE FUNCTION templates_version_body_frozen();
"""

SQLITE = """
CREATE TRIGGER templates_version_body_frozen
BEFORE UPDATE OF body ON templates_templateversion
FOR EACH ROW WHEN OLD.status <> 'draft' AND NEW.body IS NOT OLD.body
BEGIN
    SELECT RAISE(ABORT, 'template version is frozen: edit it as a new version');
END;
"""


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE, params=None)


def backward(apps, schema_editor):
    schema_editor.execute("DROP TRIGGER IF EXISTS templates_version_body_frozen", params=None)


class Migration(migrations.Migration):
    dependencies = [("templates", "0001_message_templates")]
    operations = [migrations.RunPython(forward, backward)]
