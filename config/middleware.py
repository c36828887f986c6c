"""Times in the admin read in one zone, the staff member's own (their `StaffPreference`), else
`ADMIN_TIME_ZONE` (the business zone by default), with its abbreviation; the database, the API
and the public pages stay in UTC."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from consent.staff_preferences import staff_time_zone


class StaffTimeZoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/admin/"):
            timezone.activate(zoneinfo.ZoneInfo(self.zone_for(request)))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()

    @staticmethod
    def zone_for(request: HttpRequest) -> str:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            return staff_time_zone(user.pk)
        return settings.ADMIN_TIME_ZONE
