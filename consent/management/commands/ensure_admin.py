"""`manage.py ensure_admin`: an admin login for the demo, plus one user per staff persona.

Each run sets a fresh random password and prints it: there is no fixed demo password to leak.
"""

from __future__ import annotations

import secrets

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand

from consent.roles import COMPLIANCE, MARKETING, SUPPORT

PERSONAS = {"marketing": MARKETING, "compliance": COMPLIANCE, "support": SUPPORT}


class Command(BaseCommand):
    help = "Create or reset the demo admin and persona users, and print the login."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--url", default="http://127.0.0.1:8000/admin/")

    def handle(self, *args, username: str, url: str, **options) -> None:
        password = secrets.token_urlsafe(9)
        admin, _ = User.objects.get_or_create(username=username)
        admin.is_staff = admin.is_superuser = True
        admin.set_password(password)
        admin.save()
        for name, group in PERSONAS.items():
            user, _ = User.objects.get_or_create(username=name, defaults={"is_staff": True})
            user.set_password(password)
            user.save()
            user.groups.add(Group.objects.get(name=group))
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Admin:    {url}\n  Login:    {username} / {password}\n"
                f"  Personas: marketing, compliance, support (same password)\n"
            )
        )
