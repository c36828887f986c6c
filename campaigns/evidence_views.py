"""The consent evidence pack (`campaigns.evidence`) as a download: the contact page's "Evidence
pack" button (Compliance: consent.export_consent), and the response the partner API's
`GET /api/v1/consent/{phone}/evidence/` sends (`config.api.evidence`).

The pack is written to a temporary file (spilled to disk past a few MB), then sent: memory stays
flat whatever the number's history.
"""

from __future__ import annotations

import tempfile

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import get_object_or_404

from consent.models import Contact

from .evidence import EvidenceError, evidence_pack_write

SPOOL_BYTES = 8 * 2**20


def evidence_pack_response(phone: str, *, user=None, label: str) -> FileResponse:
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (FileResponse closes it)
    result = evidence_pack_write(phone=phone, out=spool, made_by=user, made_by_label=label)
    spool.seek(0)
    name = f"evidence-{result.phone.lstrip('+')}-{result.record.made_at:%Y%m%dT%H%M%SZ}.zip"
    return FileResponse(spool, as_attachment=True, filename=name, content_type="application/zip")


@staff_member_required
def admin_evidence_pack(request: HttpRequest, contact_id: int) -> FileResponse:
    """The contact page's button: Compliance downloads the pack of the contact's number."""
    if not request.user.has_perm("consent.export_consent"):
        raise PermissionDenied
    contact = get_object_or_404(Contact, pk=contact_id)
    phone = contact.phone or _erased_number(contact)
    try:
        return evidence_pack_response(phone, user=request.user, label="admin contact page")
    except EvidenceError as exc:
        raise Http404(str(exc)) from exc


def _erased_number(contact: Contact) -> str:
    """An erased contact keeps no number; its ledger still does."""
    phone = contact.consent_events.values_list("phone", flat=True).first()
    if not phone:
        raise Http404("Nothing is recorded for this contact.")
    return phone
