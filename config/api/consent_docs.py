"""The OpenAPI description of the consent API (`config/api/consent.py`): one `extend_schema` per
endpoint, with its error answers and examples, served at /api/schema/ and /api/docs/."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema

from config.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from config.api.message_serializers import ErrorSerializer

from .consent_serializers import (
    ConsentCheckQuerySerializer,
    ConsentCheckSerializer,
    ConsentLookupSerializer,
    ContactSerializer,
    ExportQuerySerializer,
    OptInResultSerializer,
    OptInSerializer,
    OptOutResultSerializer,
    OptOutSerializer,
)

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input; `fields` names what."),
    401: OpenApiResponse(ErrorSerializer, description="No key, or an unknown or revoked one."),
    403: OpenApiResponse(ErrorSerializer, description="The key lacks the scope (missing_scope)."),
    429: OpenApiResponse(ErrorSerializer, description="Over the client's rate; see Retry-After."),
}
POST_ERRORS = ERRORS | {
    422: OpenApiResponse(ErrorSerializer, description="Idempotency-Key reused for another body."),
}
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Any unique string (≤255): a repeat returns the first answer and writes nothing.",
)
PHONE_PARAMETER = OpenApiParameter(
    "phone",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="Any format, URL-encoded (“%2B1%20415%20555%202671”).",
)
OPT_IN_EXAMPLE = {
    "phone": "(415) 555-2671",
    "program": "offers",
    "method": "web_form",
    "source": "https://acme.example/join",
    "occurred_at": "2025-01-15T14:30:00Z",
    "disclosure_version": 3,
    "evidence": {
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0",
        "page_url": "https://acme.example/join",
    },
}
OPT_IN_ANSWER = {
    "id": 812,
    "phone": "+14155552671",
    "program": "offers",
    "kind": "opt_in",
    "resulting_status": "pending",
    "method": "web_form",
    "source": "https://acme.example/join",
    "occurred_at": "2025-01-15T14:30:00Z",
    "recorded_at": "2025-01-15T14:30:02.114Z",
    "disclosure_version": 3,
    "disclosure_hash": "9f2c…",
    "evidence": OPT_IN_EXAMPLE["evidence"],
    "confirmation_message_id": 5531,
}


OPT_IN_SCHEMA = extend_schema(
    tags=["consent"],
    summary="Record an opt-in",
    request=OptInSerializer,
    parameters=[IDEMPOTENCY_PARAMETER],
    responses={201: OptInResultSerializer, **POST_ERRORS},
    examples=[
        OpenApiExample("Web form opt-in", value=OPT_IN_EXAMPLE, request_only=True),
        OpenApiExample(
            "Pending a YES (double opt-in)",
            value=OPT_IN_ANSWER,
            response_only=True,
            status_codes=["201"],
        ),
        OpenApiExample(
            "Unknown program",
            value={
                "code": "unknown_program",
                "message": "There is no program “ofers”.",
                "fields": {"program": ["There is no program “ofers”."]},
            },
            response_only=True,
            status_codes=["400"],
        ),
    ],
)

OPT_OUT_SCHEMA = extend_schema(
    tags=["consent"],
    summary="Record an opt-out",
    request=OptOutSerializer,
    parameters=[IDEMPOTENCY_PARAMETER],
    responses={
        201: OptOutResultSerializer,
        200: OpenApiResponse(OptOutResultSerializer, description="Erased number: no events."),
        **POST_ERRORS,
    },
    examples=[
        OpenApiExample(
            "A reply forwarded by the CRM",
            value={
                "phone": "+1 415 555 2671",
                "program": "all",
                "method": "email",
                "source": "support ticket 4411",
                "occurred_at": "2025-01-15T14:30:00Z",
                "text": "please stop texting me",
            },
            request_only=True,
        ),
        OpenApiExample(
            "Revoked everywhere",
            value={
                "phone": "+14155552671",
                "suppressed": True,
                "events": [
                    OPT_IN_ANSWER
                    | {
                        "id": 813,
                        "kind": "opt_out",
                        "resulting_status": "opted_out",
                        "method": "email",
                        "source": "support ticket 4411",
                        "disclosure_version": None,
                        "disclosure_hash": "",
                        "evidence": {"raw_text": "please stop texting me"},
                    }
                ],
            },
            response_only=True,
            status_codes=["201"],
        ),
    ],
)

CONSENT_CHECK_SCHEMA = extend_schema(
    tags=["consent"],
    summary="Check the consent gate",
    parameters=[ConsentCheckQuerySerializer],
    responses={200: ConsentCheckSerializer, **ERRORS},
    examples=[
        OpenApiExample(
            "Opted out",
            value={"phone": "+14155552671", "allowed": False, "reason": "opted_out"},
            response_only=True,
        )
    ],
)

CONSENT_LOOKUP_SCHEMA = extend_schema(
    tags=["consent"],
    summary="Consent of a number, per program",
    parameters=[PHONE_PARAMETER],
    responses={200: ConsentLookupSerializer, **ERRORS},
    examples=[
        OpenApiExample(
            "Opted in to one program",
            value={
                "phone": "+14155552671",
                "suppressed": False,
                "programs": [
                    {
                        "program": "offers",
                        "status": "opted_in",
                        "since": "2025-01-15T14:31:10Z",
                        "method": "keyword",
                        "source": "YES to +18335550100",
                        "disclosure_version": 3,
                        "opted_in_at": "2025-01-15T14:31:10Z",
                        "opted_out_at": None,
                    }
                ],
            },
            response_only=True,
        ),
        OpenApiExample(
            "A number never seen",
            value={"phone": "+14155550123", "suppressed": False, "programs": []},
            response_only=True,
        ),
    ],
)


CONTACT_EXAMPLE = {
    "phone": "415.555.2671",
    "first_name": "Dana",
    "last_name": "Lee",
    "email": "dana@example.com",
    "locale": "en-US",
    "time_zone": "America/Los_Angeles",
    "state": "CA",
    "postal_code": "94103",
    "attributes": {"crm_id": "C-1009", "tier": "gold"},
    "tags": ["vip", "newsletter"],
}


CONTACT_UPSERT_SCHEMA = extend_schema(
    tags=["contacts"],
    summary="Create or update a contact",
    request=ContactSerializer,
    parameters=[IDEMPOTENCY_PARAMETER],
    responses={
        201: OpenApiResponse(ContactSerializer, description="A new contact."),
        200: OpenApiResponse(ContactSerializer, description="An existing contact, updated."),
        **POST_ERRORS,
    },
    examples=[
        OpenApiExample("A CRM record", value=CONTACT_EXAMPLE, request_only=True),
        OpenApiExample(
            "Stored",
            value=CONTACT_EXAMPLE
            | {
                "phone": "+14155552671",
                "tags": ["newsletter", "vip"],
                "created_at": "2025-01-15T14:30:00Z",
                "updated_at": "2025-01-15T14:30:00Z",
            },
            response_only=True,
            status_codes=["201", "200"],
        ),
    ],
)

CONTACT_DETAIL_SCHEMA = extend_schema(
    tags=["contacts"],
    summary="Read a contact",
    parameters=[PHONE_PARAMETER],
    responses={
        200: ContactSerializer,
        404: OpenApiResponse(ErrorSerializer, description="No contact with that number."),
        **ERRORS,
    },
    examples=[
        OpenApiExample(
            "Not found",
            value={"code": "not_found", "message": "No contact +14155550123.", "fields": {}},
            response_only=True,
            status_codes=["404"],
        )
    ],
)

OPT_OUT_EXPORT_SCHEMA = extend_schema(
    tags=["exports"],
    summary="Export the opt-out log (CSV)",
    parameters=[ExportQuerySerializer],
    responses={
        (200, "text/csv"): OpenApiResponse(
            OpenApiTypes.STR,
            description="CSV: event_id, phone, program, opted_out_at, method, source, "
            "raw_text, processed_at, confirmation_sent_at, confirmation_message_ref.",
        ),
        **ERRORS,
    },
    examples=[
        OpenApiExample(
            "Bad since",
            value={
                "code": "invalid",
                "message": "Invalid fields: since.",
                "fields": {"since": ["Give the time zone too, e.g. 2025-01-15T14:30:00Z …"]},
            },
            response_only=True,
            status_codes=["400"],
        )
    ],
)
