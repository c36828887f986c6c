"""The audience builder's server side: a bounded live count and a sample for any filters.

The builder (static/campaigns/audience-builder.js) writes the JSON filter language of
`campaigns.audiences` into the form's raw JSON field and asks `audience_preview_view` how many
contacts match. Counts stop at `COUNT_CAP` (a COUNT over a LIMITed subquery), so a page that
asks on every keystroke never counts a million-row table.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.urls import reverse

from consent.models import ConsentStatus, Program

from .audiences import AudienceFilterError, audience_contacts

#: Counts stop here: "more than 10,000" is all a person building an audience needs.
COUNT_CAP = 10_000
SAMPLE_SIZE = 5
#: Largest filters document the preview accepts (the builder's are a few hundred bytes).
MAX_BODY = 16 * 1024


def bounded_count(qs: QuerySet, cap: int | None = None) -> tuple[int, bool]:
    """(count, capped): the rows of `qs`, counting no further than `cap` (COUNT_CAP)."""
    cap = COUNT_CAP if cap is None else cap
    n = qs.order_by().values("pk")[: cap + 1].count()
    return min(n, cap), n > cap


def audience_preview(filters: dict[str, Any]) -> dict[str, Any]:
    """What the builder shows: the bounded count, per active program how many of them are opted
    in, and a few matching contacts. Raises AudienceFilterError for bad filters."""
    contacts = audience_contacts(filters)
    count, capped = bounded_count(contacts)
    opted_in = []
    for program in Program.objects.filter(active=True).order_by("slug"):
        n, more = bounded_count(
            contacts.filter(
                consent_states__program=program, consent_states__status=ConsentStatus.OPTED_IN
            )
        )
        opted_in.append({"program": program.slug, "count": n, "capped": more})
    sample = [
        {
            "name": contact.full_name or "—",
            "phone": contact.phone,
            "url": reverse("admin:consent_contact_change", args=[contact.pk]),
        }
        for contact in contacts.order_by("-id")[:SAMPLE_SIZE]
    ]
    return {"count": count, "capped": capped, "opted_in": opted_in, "sample": sample}


def audience_preview_view(model_admin, request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    if len(request.body) > MAX_BODY:
        return JsonResponse({"error": "Filters too large."}, status=400)
    try:
        filters = json.loads(request.body or b"{}").get("filters", {})
    except (ValueError, AttributeError):
        return JsonResponse({"error": "Filters must be a JSON object."}, status=400)
    try:
        return JsonResponse(audience_preview(filters))
    except AudienceFilterError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
