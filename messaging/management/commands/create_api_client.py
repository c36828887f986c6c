"""`manage.py create_api_client NAME --scopes a,b`: prints the key alone on its last line."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from messaging.api_clients import ApiClientError, api_client_create
from messaging.models import Scope


class Command(BaseCommand):
    help = "Create a partner API client and print its key (shown once, stored hashed)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "--scopes",
            required=True,
            help=f"Comma-separated, from: {', '.join(Scope.values)}",
        )
        parser.add_argument("--rate", type=int, default=None, help="Requests per minute.")

    def handle(self, *args, name: str, scopes: str, rate: int | None, **options) -> None:
        wanted = [s.strip() for s in scopes.split(",") if s.strip()]
        try:
            client, key = api_client_create(name=name, scopes=wanted, rate_per_minute=rate)
        except ApiClientError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Created API client “{client.name}” (prefix {client.prefix}, scopes "
            f"{', '.join(client.scopes)}). The key is shown only now; store it safely:"
        )
        self.stdout.write(key)
