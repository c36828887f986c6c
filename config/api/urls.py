"""The partner API's routes, mounted at /api/v1/ (schema at /api/schema/, docs at /api/docs/).

Every endpoint lives in this package; this module only gathers them.
"""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("config.api.consent")),
    path("", include("config.api.messages")),
    path("", include("config.api.events")),
    path("", include("config.api.evidence")),
]
