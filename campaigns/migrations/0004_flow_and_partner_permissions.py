from django.db import migrations

from consent.roles import COMPLIANCE, MARKETING, grant

PERMISSIONS = {
    MARKETING: [
        "campaigns.view_flow", "campaigns.add_flow", "campaigns.change_flow",
        "campaigns.view_flowrun", "campaigns.view_flowevent",
    ],
    COMPLIANCE: [
        "campaigns.view_flow", "campaigns.view_flowrun", "campaigns.view_flowevent",
        "messaging.view_apiclient", "messaging.add_apiclient", "messaging.change_apiclient",
        "messaging.view_webhooksubscription", "messaging.add_webhooksubscription",
        "messaging.change_webhooksubscription", "messaging.view_webhookdelivery",
    ],
}  # fmt: skip


def create(apps, schema_editor):
    grant(apps, PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0003_flows"),
        ("messaging", "0005_partner_api_clients_and_webhooks"),
        ("consent", "0008_contact_preferences"),
    ]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
