from django.db import migrations

from consent.roles import COMPLIANCE, MARKETING, grant

PERMISSIONS = {
    COMPLIANCE: [
        "campaigns.view_brand", "campaigns.add_brand", "campaigns.change_brand",
        "campaigns.view_registration", "campaigns.add_registration",
        "campaigns.change_registration", "campaigns.review_registration",
        "campaigns.sync_registration",
        "campaigns.view_registrationsnapshot", "campaigns.add_registrationsnapshot",
        "campaigns.change_registrationsnapshot",
        "campaigns.view_programreview", "campaigns.view_reviewfinding",
        "campaigns.change_reviewfinding",
    ],
    # Marketing sees the findings about its own templates (the admin narrows the list).
    MARKETING: ["campaigns.view_reviewfinding"],
}  # fmt: skip


def create(apps, schema_editor):
    grant(apps, PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0006_registrations_and_program_reviews")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
