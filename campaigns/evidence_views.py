"""Where people and partners ask for a consent evidence pack (`campaigns.evidence`).

    GET /api/v1/consent/{phone}/evidence/   exports:read   the pack as a ZIP download
    admin: the contact page's "Evidence pack" button (Compliance: consent.export_consent)

The pack is written to a temporary file (spilled to disk past a few MB), then sent: memory stays
flat whatever the number's history.
"""

from __future__ import annotations

import tempfile

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from consent.api import JsonErrorsNegotiation
from consent.models import Contact
from consent.phones import normalize_phone
from messaging.api.errors import ApiError
from messaging.api.serializers import ErrorSerializer
from messaging.models import Scope

from .evidence import EvidenceError, evidence_pack_write

SPOOL_BYTES = 8 * 2**20


def _pack_response(phone: str, *, user=None, label: str) -> FileResponse:
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (FileResponse closes it)
    result = evidence_pack_write(phone=phone, out=spool, made_by=user, made_by_label=label)
    spool.seek(0)
    name = f"evidence-{result.phone.lstrip('+')}-{result.record.made_at:%Y%m%dT%H%M%SZ}.zip"
    return FileResponse(spool, as_attachment=True, filename=name, content_type="application/zip")


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
            return _pack_response(e164, label=f"api: {request.auth}")
        except EvidenceError as exc:
            raise ApiError(str(exc), code="not_found", status_code=404) from exc


@staff_member_required
def admin_evidence_pack(request: HttpRequest, contact_id: int) -> FileResponse:
    """The contact page's button: Compliance downloads the pack of the contact's number."""
    if not request.user.has_perm("consent.export_consent"):
        raise PermissionDenied
    contact = get_object_or_404(Contact, pk=contact_id)
    phone = contact.phone or _erased_number(contact)
    try:
        return _pack_response(phone, user=request.user, label="admin contact page")
    except EvidenceError as exc:
        raise Http404(str(exc)) from exc


def _erased_number(contact: Contact) -> str:
    """An erased contact keeps no number; its ledger still does."""
    phone = contact.consent_events.values_list("phone", flat=True).first()
    if not phone:
        raise Http404("Nothing is recorded for this contact.")
    return phone


urlpatterns = [
    path("consent/<str:phone>/evidence/", EvidencePackView.as_view(), name="api-evidence-pack"),
]
