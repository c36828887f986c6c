from django.db import migrations

from consent.roles import COMPLIANCE, grant


def create(apps, schema_editor):
    grant(apps, {COMPLIANCE: ["consent.import_consent"]})


class Migration(migrations.Migration):
    dependencies = [("consent", "0006_suppression_index_and_import_permission")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
