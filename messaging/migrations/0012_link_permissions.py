from django.db import migrations

from consent.roles import COMPLIANCE, MARKETING, grant

PERMISSIONS = {
    MARKETING: [
        "messaging.view_trackedlink", "messaging.view_click", "messaging.view_conversion",
    ],
    COMPLIANCE: [
        "messaging.view_trackedlink", "messaging.view_click", "messaging.view_conversion",
    ],
}  # fmt: skip


def create(apps, schema_editor):
    grant(apps, PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("messaging", "0011_links_clicks_conversions")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
