from django.db import migrations

from consent.roles import CONSENT_PERMISSIONS, grant


def create_groups(apps, schema_editor):
    grant(apps, CONSENT_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0002_ledger_append_only_triggers"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
