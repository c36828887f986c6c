"""Making and revoking partner API keys (the one place an `ApiClient` changes), and finding
the client that holds a key (one indexed query, cached briefly per process)."""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from functools import lru_cache

from django.db import connection, transaction
from django.utils import timezone

from config.lib.sql import loaded

from .models import ApiClient, Scope
from .models.partners import client_cache, forget_client, hash_api_key

KEY_PREFIX = "sms"


class ApiClientError(ValueError):
    pass


def generate_key() -> tuple[str, str]:
    """(prefix, key): the prefix is public, the key is shown once and never stored."""
    prefix = secrets.token_hex(4)
    return prefix, f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"


def check_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        raise ApiClientError(
            f"Unknown scope(s): {', '.join(unknown)}; choose from {', '.join(Scope.values)}."
        )
    return sorted(set(scopes))


def api_client_create(
    *, name: str, scopes: list[str], rate_per_minute: int | None = None, by=None, note: str = ""
) -> tuple[ApiClient, str]:
    """Make a client; returns it with its key, which exists nowhere else from now on."""
    if not name.strip():
        raise ApiClientError("A client needs a name.")
    if ApiClient.objects.filter(name=name.strip()).exists():
        raise ApiClientError(f"There is already a client named “{name.strip()}”.")
    prefix, key = generate_key()
    client = ApiClient(
        name=name.strip(),
        prefix=prefix,
        key_hash=hash_api_key(key),
        scopes=check_scopes(scopes),
        created_by=by,
        note=note,
    )
    if rate_per_minute is not None:
        client.rate_per_minute = rate_per_minute
    client.save()
    return client, key


def api_client_rotate(*, client: ApiClient) -> str:
    """Give a client a new key (the old one stops working at once); returns the new key."""
    prefix, key = generate_key()
    old_hash = ApiClient.objects.filter(pk=client.pk).values_list("key_hash", flat=True).first()
    with transaction.atomic():
        ApiClient.objects.filter(pk=client.pk).update(prefix=prefix, key_hash=hash_api_key(key))
    forget_client(old_hash)
    client.prefix, client.key_hash = prefix, hash_api_key(key)
    return key


def api_client_revoke(*, client: ApiClient, by=None) -> bool:
    """Revoke a key (a guarded update); False if it was already revoked.

    It stops working at once in this process, and within `KEY_CACHE_SECONDS` in others.
    """
    revoked = ApiClient.objects.filter(pk=client.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=by
    )
    forget_client(ApiClient.objects.filter(pk=client.pk).values_list("key_hash", flat=True).first())
    return bool(revoked)


#: How stale `last_used_at` may get before a request refreshes it (saves a write per request).
LAST_USED_RESOLUTION = timedelta(minutes=1)


@lru_cache(maxsize=1)
def _client_sql() -> str:
    quote = connection.ops.quote_name
    opts = ApiClient._meta
    column = {f: quote(opts.get_field(f).column) for f in (*_CLIENT_FIELDS, "key_hash")}
    last_used, revoked = (quote(opts.get_field(f).column) for f in ("last_used_at", "revoked_at"))
    # Identifiers come from the model, quoted; every value is a parameter.
    return (
        f"SELECT {', '.join(column[f] for f in _CLIENT_FIELDS)}, "  # noqa: S608
        f"{last_used} IS NULL OR {last_used} < %s FROM {quote(opts.db_table)} "
        f"WHERE {column['key_hash']} = %s AND {revoked} IS NULL"
    )


_CLIENT_FIELDS = ("id", "name", "prefix", "scopes", "rate_per_minute")


def client_for_key(key: str, now) -> tuple[ApiClient | None, bool]:
    """The active client holding `key` (None if unknown or revoked), and whether its
    `last_used_at` is older than `LAST_USED_RESOLUTION`.

    One plain statement on every API request. The instance carries only what requests use
    (id, name, prefix, scopes, rate); it is for reading, never for saving.
    """
    stale_before = connection.ops.adapt_datetimefield_value(now - LAST_USED_RESOLUTION)
    with connection.cursor() as cursor:
        cursor.execute(_client_sql(), [stale_before, hash_api_key(key)])
        row = cursor.fetchone()
    if row is None:
        return None, False
    pk, name, prefix, scopes, rate, stale = row
    scopes = ApiClient._meta.get_field("scopes").from_db_value(scopes, None, connection)
    client = ApiClient(pk=pk, name=name, prefix=prefix, scopes=scopes, rate_per_minute=rate)
    return loaded(client), bool(stale)


#: How long a process trusts a key it has looked up. Revoking or rotating a key clears it in the
#: process that did it; other processes refuse the old key within this many seconds.
KEY_CACHE_SECONDS = 10.0


def cached_client(key: str) -> ApiClient | None:
    """The active client holding `key`, from this process's cache or the database."""
    hashed = hash_api_key(key)
    now = time.monotonic()
    cached = client_cache.get(hashed)
    if cached is not None and cached[0] > now:
        return cached[1]
    client_cache.pop(hashed, None)
    moment = timezone.now()
    client, stale = client_for_key(key, moment)
    if client is None:
        return None
    if stale:
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=moment)
    if len(client_cache) > 10_000:
        client_cache.clear()
    client_cache[hashed] = (now + KEY_CACHE_SECONDS, client)
    return client
