"""`manage.py ensure_admin`: an admin login for the demo, plus one user per staff persona.

The password is random, made on the first run and kept in `var/demo-login` (readable by its
owner only), so the login `make run` prints stays the same from run to run. There is no fixed
demo password to leak; delete the file (or pass `--reset`) for a new one.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand

from consent.roles import COMPLIANCE, MARKETING, SUPPORT

PERSONAS = {"marketing": MARKETING, "compliance": COMPLIANCE, "support": SUPPORT}


def _stored_password(path: Path, *, reset: bool) -> tuple[str, bool]:
    """The kept password and whether it is new."""
    if not reset and path.exists():
        password = path.read_text().strip()
        if password:
            return password, False
    password = secrets.token_urlsafe(9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(password + "\n")
    return password, True


class Command(BaseCommand):
    help = "Create the demo admin and persona users (once), and print the login."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--url", default="http://127.0.0.1:8000/admin/")
        parser.add_argument("--reset", action="store_true", help="Make a new password.")

    def handle(self, *args, username: str, url: str, reset: bool, **options) -> None:
        path = Path(settings.VAR_DIR) / "demo-login"
        password, new = _stored_password(path, reset=reset)
        users = [(username, None)] + [(name, group) for name, group in PERSONAS.items()]
        for name, group in users:
            user, created = User.objects.get_or_create(username=name, defaults={"is_staff": True})
            if group is None and not user.is_superuser:
                user.is_staff = user.is_superuser = True
                user.save(update_fields=["is_staff", "is_superuser"])
            # A password someone changed in the admin stays theirs unless the kept one is new;
            # users made without one (seed_demo's marketer and reviewer) get the kept one.
            if created or new or not user.password or not user.has_usable_password():
                user.set_password(password)
                user.save(update_fields=["password"])
            if group is not None:
                user.groups.add(Group.objects.get(name=group))
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Admin:    {url}\n  Login:    {username} / {password}\n"
                f"  Personas: marketing, compliance, support (same password; kept in {path})\n"
            )
        )
