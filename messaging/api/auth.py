"""Bearer-key authentication, scope permission and per-client throttling for the partner API.

A key looks like ``sms_<prefix>_<secret>``; only its SHA-256 is stored, so a lookup is one
indexed query on the hash. A revoked key is refused like an unknown one.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling

from config.lib.process_cache import ProcessCache

from ..models import ApiClient
from ..models.partners import hash_api_key

#: How stale `last_used_at` may get before a request refreshes it (saves a write per request).
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ClientPrincipal:
    """`request.user` for an API request: the client, authenticated, with no staff powers."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.pk = None

    def __str__(self) -> str:
        return f"API client {self.client.name}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <key>`; `request.auth` is the `ApiClient`."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, key = header.partition(" ")
        if scheme.lower() != self.keyword.lower() or not key.strip():
            raise exceptions.AuthenticationFailed("Send the key as “Authorization: Bearer <key>”.")
        client = cached_client(key.strip())
        if client is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        return ClientPrincipal(client), client

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


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


#: How long a process trusts a key it has looked up. Revoking or rotating a key clears it in the
#: process that did it; other processes refuse the old key within this many seconds.
KEY_CACHE_SECONDS = 10.0
_clients: ProcessCache[ApiClient] = ProcessCache("API clients by key", seconds=KEY_CACHE_SECONDS)


def cached_client(key: str) -> ApiClient | None:
    """The active client holding `key`, from this process's cache or the database (an unknown
    or revoked key is not cached)."""
    hashed = hash_api_key(key)
    found, client = _clients.lookup(hashed)
    if found:
        return client
    moment = timezone.now()
    client, stale = client_for_key(key, moment)
    if client is None:
        return None
    if stale:
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=moment)
    _clients.put(hashed, client)
    return client


def forget_client(key_hash: str | None = None) -> None:
    """Drop a cached key (after a revocation or rotation), or every cached key."""
    _clients.forget(key_hash)


class HasScope(permissions.BasePermission):
    """The client's key carries the view's `required_scopes[method]` (or `required_scope`)."""

    def has_permission(self, request, view) -> bool:
        client = request.auth
        if not isinstance(client, ApiClient):
            raise exceptions.NotAuthenticated("An API key is required.")
        scope = required_scope(view, request.method)
        if scope and not client.has_scope(scope):
            raise exceptions.PermissionDenied(
                f"This key lacks the “{scope}” scope.", code="missing_scope"
            )
        return True


def required_scope(view, method: str) -> str | None:
    scopes = getattr(view, "required_scopes", None)
    if scopes is not None:
        return scopes.get(method)
    return getattr(view, "required_scope", None)


class ClientRateThrottle(throttling.SimpleRateThrottle):
    """`ApiClient.rate_per_minute` requests per minute per client (429 with Retry-After).

    Counts live in the default cache: set `CACHE_URL` to Redis when several processes serve
    the API, or each keeps its own count.
    """

    scope = "api_client"
    cache_format = "throttle_%(scope)s_%(ident)s"

    def get_rate(self) -> str | None:
        return None  # set per request from the client

    def allow_request(self, request, view) -> bool:
        client = request.auth
        if not isinstance(client, ApiClient) or not client.rate_per_minute:
            return True
        self.num_requests, self.duration = client.rate_per_minute, 60
        self.rate = f"{client.rate_per_minute}/min"
        return super().allow_request(request, view)

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A partner key, `sms_<prefix>_<secret>`, made in the admin or with "
            "`manage.py create_api_client`. Scopes: consent:read, consent:write, "
            "messages:send, events:write, exports:read.",
        }
