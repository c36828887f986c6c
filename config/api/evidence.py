"""The consent evidence pack of a number, for partners.

GET /api/v1/consent/{phone}/evidence/   exports:read   the pack as a ZIP download
"""

from __future__ import annotations

from django.http import FileResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from campaigns.evidence import EvidenceError
from campaigns.evidence_views import evidence_pack_response
from consent.phones import normalize_phone
from messaging.models import Scope

from .consent import JsonErrorsNegotiation
from .errors import ApiError
from .message_serializers import ErrorSerializer


class EvidencePackView(APIView):
    required_scopes = {"GET": Scope.EXPORTS_READ}
    content_negotiation_class = JsonErrorsNegotiation  # errors stay JSON whatever Accept says

    @extend_schema(
        tags=["exports"],
        operation_id="consent_evidence_pack",
        summary="Download the consent evidence pack of a number (ZIP)",
        description="A ZIP for one number: `manifest.json` (the number, when and by whom it was "
        "made, the SHA-256 of every other file), the consent ledger with full provenance, each "
        "disclosure exactly as shown with its hash re-verified, the double opt-in request and "
        "reply, the opt-in confirmation and monthly reminders, every message sent and received "
        "with the gate's decision, holds for quiet hours and caps, delivery callbacks and "
        "reassigned-number checks, each revocation's timeline against its 10-business-day "
        "deadline, suppressions, and `summary.html` for people. An erased contact's pack "
        "holds the ledger without personal fields. Making a pack is recorded.",
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The pack."),
            400: OpenApiResponse(ErrorSerializer, description="Not a valid phone number."),
            401: OpenApiResponse(ErrorSerializer, description="No key, or an unknown one."),
            403: OpenApiResponse(ErrorSerializer, description="The key lacks exports:read."),
            404: OpenApiResponse(
                ErrorSerializer, description="Nothing is recorded for the number."
            ),
            429: OpenApiResponse(ErrorSerializer, description="Over the client's rate."),
        },
        examples=[
            OpenApiExample(
                "Nothing recorded",
                value={
                    "code": "not_found",
                    "message": "Nothing is recorded for +14155550199.",
                    "fields": {},
                },
                response_only=True,
                status_codes=["404"],
            ),
            OpenApiExample(
                "Bad phone",
                value={
                    "code": "invalid_phone",
                    "message": "“555” is not a valid phone number: it has too few digits.",
                    "fields": {"phone": ["“555” is not a valid phone number."]},
                },
                response_only=True,
                status_codes=["400"],
            ),
        ],
    )
    def get(self, request: Request, phone: str) -> FileResponse:
        e164 = normalize_phone(phone)  # InvalidPhoneNumber: 400 invalid_phone
        try:
            return evidence_pack_response(e164, label=f"api: {request.auth}")
        except EvidenceError as exc:
            raise ApiError(str(exc), code="not_found", status_code=404) from exc


urlpatterns = [
    path("consent/<str:phone>/evidence/", EvidencePackView.as_view(), name="api-evidence-pack"),
]
