from django.db import migrations

from consent.roles import COMPLIANCE, MARKETING, SUPPORT, grant

PERMISSIONS = {
    MARKETING: [
        "templates.view_messagetemplate",
        "templates.add_messagetemplate",
        "templates.change_messagetemplate",
        "templates.view_templateversion",
        "templates.add_templateversion",
        "templates.change_templateversion",
        "templates.view_templateversionevent",
    ],
    COMPLIANCE: [
        "templates.view_messagetemplate",
        "templates.view_templateversion",
        "templates.view_templateversionevent",
        "templates.review_templateversion",
    ],
    SUPPORT: ["templates.view_messagetemplate", "templates.view_templateversion"],
}


def create(apps, schema_editor):
    grant(apps, PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("templates", "0002_frozen_version_bodies"), ("consent", "0003_staff_groups")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
