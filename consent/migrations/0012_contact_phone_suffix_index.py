"""An index for finding contacts by the end of their number (PostgreSQL only).

`reverse(phone) text_pattern_ops` serves `reverse(phone) LIKE '1144097%'` whatever the
database's collation. SQLite has no such index; its demo-sized tables are scanned.
"""

from django.db import migrations

CREATE = (
    "CREATE INDEX IF NOT EXISTS contact_phone_reversed "
    "ON consent_contact (reverse(phone) text_pattern_ops)"
)
DROP = "DROP INDEX IF EXISTS contact_phone_reversed"


def create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("consent", "0011_admin_import_jobs")]

    operations = [migrations.RunPython(create, drop)]
