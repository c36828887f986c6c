"""The partner API's routes, mounted at /api/v1/ (schema at /api/schema/, docs at /api/docs/)."""

from __future__ import annotations

urlpatterns: list = []
