from django.db import migrations

from consent.roles import COMPLIANCE, MARKETING, SUPPORT, grant

PERMISSIONS = {
    MARKETING: [
        "campaigns.view_audience", "campaigns.add_audience", "campaigns.change_audience",
        "campaigns.view_campaign", "campaigns.add_campaign", "campaigns.change_campaign",
        "campaigns.view_campaignvariant", "campaigns.add_campaignvariant",
        "campaigns.change_campaignvariant", "campaigns.delete_campaignvariant",
        "campaigns.view_campaignevent",
        "messaging.view_sender", "messaging.view_outboundmessage", "messaging.view_messageevent",
    ],
    COMPLIANCE: [
        "campaigns.view_audience", "campaigns.view_campaign", "campaigns.view_campaignvariant",
        "campaigns.view_campaignevent",
        "messaging.view_sender", "messaging.add_sender", "messaging.change_sender",
        "messaging.view_outboundmessage", "messaging.view_messageevent",
        "messaging.view_quiethoursrule", "messaging.add_quiethoursrule",
        "messaging.change_quiethoursrule",
        "messaging.view_reassignednumbercheck",
        "messaging.view_inboundmessage", "messaging.view_statuscallback",
        "messaging.view_revocationreview", "messaging.change_revocationreview",
        "messaging.view_conversation",
    ],
    SUPPORT: [
        "messaging.view_sender", "messaging.view_outboundmessage", "messaging.view_messageevent",
        "messaging.view_inboundmessage",
        "messaging.view_conversation", "messaging.change_conversation",
        "messaging.view_revocationreview", "messaging.change_revocationreview",
    ],
}  # fmt: skip


def create(apps, schema_editor):
    grant(apps, PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0002_seed_quiet_hours_rules"),
        ("campaigns", "0002_campaign_senders_and_variants"),
        ("consent", "0003_staff_groups"),
    ]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
