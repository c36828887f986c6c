"""The three staff groups and what each may do, applied by data migrations.

Later apps add their own permissions to these groups with `grant` in their own migrations.
Nobody, in any group, may change or delete a consent ledger row.
"""

from __future__ import annotations

MARKETING = "Marketing"
COMPLIANCE = "Compliance"
SUPPORT = "Support"

CONSENT_PERMISSIONS: dict[str, list[str]] = {
    MARKETING: [
        "consent.view_contact",
        "consent.add_contact",
        "consent.change_contact",
        "consent.view_tag",
        "consent.add_tag",
        "consent.view_program",
        "consent.view_disclosure",
        "consent.view_consentstate",
        "consent.view_consentevent",
    ],
    COMPLIANCE: [
        "consent.view_contact",
        "consent.view_tag",
        "consent.view_program",
        "consent.add_program",
        "consent.change_program",
        "consent.view_disclosure",
        "consent.add_disclosure",
        "consent.change_disclosure",
        "consent.view_consentstate",
        "consent.view_consentevent",
        "consent.view_consentconfirmation",
        "consent.view_suppression",
        "consent.add_suppression",
        "consent.change_suppression",
        "consent.export_consent",
        "consent.import_consent",
        "consent.record_opt_out",
        "consent.erase_contact",
    ],
    SUPPORT: [
        "consent.view_contact",
        "consent.change_contact",
        "consent.view_tag",
        "consent.view_program",
        "consent.view_disclosure",
        "consent.view_consentstate",
        "consent.view_consentevent",
        "consent.view_consentconfirmation",
        "consent.view_suppression",
        "consent.record_opt_out",
    ],
}


def grant(apps, permissions_by_group: dict[str, list[str]]) -> None:
    """Create the groups if needed and give them these "app_label.codename" permissions."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, names in permissions_by_group.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        for name in names:
            app_label, codename = name.split(".")
            permission = Permission.objects.get(
                content_type__app_label=app_label, codename=codename
            )
            group.permissions.add(permission)
