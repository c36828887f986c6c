from django.db import migrations

from consent.roles import COMPLIANCE, SUPPORT, grant

# Traffic to a number with no sender is raised as an operator alert: the people who look after
# senders (Compliance) and answer people (Support) see them and acknowledge them.
PERMISSIONS = {
    COMPLIANCE: ["core.view_operatoralert", "core.change_operatoralert"],
    SUPPORT: ["core.view_operatoralert", "core.change_operatoralert"],
}


def create(apps, schema_editor):
    grant(apps, PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0005_partner_api_clients_and_webhooks"),
        ("core", "0001_operator_alerts"),
        ("consent", "0003_staff_groups"),
    ]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
