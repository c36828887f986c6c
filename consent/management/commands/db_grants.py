"""`manage.py db_grants APP_ROLE [--execute]`: the privileges of the application's database role.

Run by the role that owns the tables (the one migrations run as), after every migration. The
application role may read and write the operational tables, but may only INSERT and SELECT the
consent ledger, its confirmations, suppressions and ledger roots; of suppressions it may UPDATE
only the columns that lifting one and erasing its number write (the trigger refuses any other
change). It never owns a table, a trigger or a function, so it cannot TRUNCATE, ALTER, disable a
trigger or replace a function. See docs/deployment-roles.md.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from consent.models import ConsentConfirmation, ConsentEvent, LedgerRoot, Suppression

#: Tables the application may only append to and read.
APPEND_ONLY = (ConsentEvent, ConsentConfirmation, Suppression, LedgerRoot)
#: Of suppressions, what lifting (and erasing the number) writes.
SUPPRESSION_UPDATABLE = ("lifted_at", "lifted_by", "lift_note", "phone")


def grant_statements(app_role: str) -> list[str]:
    quote = connection.ops.quote_name
    role = quote(app_role)
    append_only = {model._meta.db_table for model in APPEND_ONLY}
    tables = sorted(connection.introspection.django_table_names(only_existing=True))
    statements = [f"REVOKE ALL ON {quote(table)} FROM {role};" for table in tables]
    for table in tables:
        privileges = "SELECT, INSERT" if table in append_only else "SELECT, INSERT, UPDATE, DELETE"
        statements.append(f"GRANT {privileges} ON {quote(table)} TO {role};")
    updatable = ", ".join(
        quote(Suppression._meta.get_field(name).column) for name in SUPPRESSION_UPDATABLE
    )
    statements += [
        f"GRANT UPDATE ({updatable}) ON {quote(Suppression._meta.db_table)} TO {role};",
        f"REVOKE ALL ON {quote('django_migrations')} FROM {role};",
        f"GRANT SELECT ON {quote('django_migrations')} TO {role};",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};",
    ]
    return statements


class Command(BaseCommand):
    help = "Print (or run) the GRANTs of the application role (PostgreSQL; run as the owner)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("app_role", help="The role the application connects as.")
        parser.add_argument("--execute", action="store_true", help="Run them instead of printing.")

    def handle(self, *args, app_role: str, execute: bool, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("Database roles and grants need PostgreSQL.")
        statements = grant_statements(app_role)
        if not execute:
            self.stdout.write("\n".join(statements))
            return
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        self.stdout.write(f"granted: {len(statements)} statements for {app_role}")
