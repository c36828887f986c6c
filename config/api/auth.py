"""Bearer-key authentication, scope permission and per-client throttling for the partner API.

A key looks like ``sms_<prefix>_<secret>``; only its SHA-256 is stored, so a lookup is one
indexed query on the hash. A revoked key is refused like an unknown one.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling

from messaging.api_clients import cached_client
from messaging.models import ApiClient


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
