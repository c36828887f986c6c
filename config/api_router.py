"""The partner API's routes, mounted at /api/v1/ (schema at /api/schema/, docs at /api/docs/).

Each app keeps its endpoints beside its services; this module only gathers them.
"""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("consent.api")),
    path("", include("messaging.api.messages")),
    path("", include("campaigns.api")),
    path("", include("campaigns.evidence_views")),
]
