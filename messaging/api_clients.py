"""Making and revoking partner API keys (the one place an `ApiClient` changes), and finding
the client that holds a key (one indexed query, cached briefly per process)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .models import ApiClient, Scope
from .models.partners import KEY_CACHE_SECONDS, client_cache, forget_client, hash_api_key  # noqa: F401

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

_CLIENT_FIELDS = ("id", "name", "prefix", "scopes", "rate_per_minute", "last_used_at")


def client_for_key(key: str, now) -> tuple[ApiClient | None, bool]:
    """The active client holding `key` (None if unknown or revoked), and whether its
    `last_used_at` is older than `LAST_USED_RESOLUTION`.

    The instance carries only what requests use (id, name, prefix, scopes, rate); it is for
    reading, never for saving. Looked up once per key per `KEY_CACHE_SECONDS` and process.
    """
    client = (
        ApiClient.objects.filter(key_hash=hash_api_key(key), revoked_at__isnull=True)
        .only(*_CLIENT_FIELDS)
        .first()
    )
    if client is None:
        return None, False
    last_used = client.last_used_at
    return client, last_used is None or last_used < now - LAST_USED_RESOLUTION


def cached_client(key: str) -> ApiClient | None:
    """The active client holding `key`, from this process's cache or the database (an unknown
    or revoked key is not cached)."""
    hashed = hash_api_key(key)
    found, client = client_cache.lookup(hashed)
    if found:
        return client
    moment = timezone.now()
    client, stale = client_for_key(key, moment)
    if client is None:
        return None
    if stale:
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=moment)
    client_cache.put(hashed, client)
    return client
