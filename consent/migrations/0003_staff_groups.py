"""The three staff groups and their consent permissions, as first granted.

The list is frozen here: later permissions are granted by their own migrations.
"""

from django.db import migrations

from consent.roles import grant

PERMISSIONS = {'Marketing': ['consent.view_contact',
               'consent.add_contact',
               'consent.change_contact',
               'consent.view_tag',
               'consent.add_tag',
               'consent.view_program',
               'consent.view_disclosure',
               'consent.view_consentstate',
               'consent.view_consentevent'],
 'Compliance': ['consent.view_contact',
                'consent.view_tag',
                'consent.view_program',
                'consent.add_program',
                'consent.change_program',
                'consent.view_disclosure',
                'consent.add_disclosure',
                'consent.change_disclosure',
                'consent.view_consentstate',
                'consent.view_consentevent',
                'consent.view_consentconfirmation',
                'consent.view_suppression',
                'consent.add_suppression',
                'consent.change_suppression',
                'consent.export_consent',
                'consent.record_opt_out',
                'consent.erase_contact'],
 'Support': ['consent.view_contact',
             'consent.change_contact',
             'consent.view_tag',
             'consent.view_program',
             'consent.view_disclosure',
             'consent.view_consentstate',
             'consent.view_consentevent',
             'consent.view_consentconfirmation',
             'consent.view_suppression',
             'consent.record_opt_out']}


def create_groups(apps, schema_editor):
    grant(apps, PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0002_ledger_append_only_triggers"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
