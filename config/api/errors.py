"""Every API error is JSON: ``{"code": ..., "message": ..., "fields": {name: [messages]}}``."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from consent.phones import InvalidPhoneNumber
from consent.services import ConsentError


class ApiError(exceptions.APIException):
    """A refusal with a stable code, optionally naming a field."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        field: str | None = None,
        status_code: int = status.HTTP_400_BAD_REQUEST,
    ) -> None:
        super().__init__(message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.field = field


_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.ParseError: "malformed_request",
    exceptions.Throttled: "throttled",
}


def _field_messages(detail) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for name, value in detail.items():
            if isinstance(value, dict):  # nested serializer: evidence.ip
                for sub, messages in _field_messages(value).items():
                    out[f"{name}.{sub}"] = messages
            elif isinstance(value, list):
                out[name] = [
                    str(v) if not isinstance(v, dict | list) else str(_field_messages(v))
                    for v in value
                ]
            else:
                out[name] = [str(value)]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [str(v) for v in detail]}
    return {"non_field_errors": [str(detail)]}


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"code": code, "message": message, "fields": fields or {}}


def exception_handler(exc, context):
    """DRF's handler (status codes, Retry-After, WWW-Authenticate), reshaped to our body."""
    if isinstance(exc, ConsentError):
        exc = ApiError(str(exc), code=exc.code, field=exc.field)
    elif isinstance(exc, InvalidPhoneNumber):
        exc = ApiError(str(exc), code="invalid_phone", field="phone")
    elif isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("too_large", "The request body is too large."),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's 500 handling takes over
    if isinstance(exc, ApiError):
        fields = {exc.field: [str(exc.detail)]} if exc.field else {}
        response.data = error_body(exc.error_code, str(exc.detail), fields)
    elif isinstance(exc, exceptions.ValidationError):
        fields = _field_messages(exc.detail)
        named = ", ".join(f for f in fields if f != "non_field_errors")
        message = f"Invalid fields: {named}." if named else next(iter(fields.values()))[0]
        response.data = error_body("invalid", message, fields)
    else:
        code = getattr(exc, "default_code", "error")
        if isinstance(exc.detail, str) and getattr(exc.detail, "code", None):
            code = exc.detail.code
        for cls, name in _CODES.items():
            if type(exc) is cls and code == cls.default_code:
                code = name
        response.data = error_body(code, str(exc.detail))
    return response
