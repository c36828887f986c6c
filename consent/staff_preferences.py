"""A staff member's own settings for the admin: for now, the time zone every time is shown in.

A staff member without a preference reads times in `ADMIN_TIME_ZONE` (the business zone by
default); `config.middleware.StaffTimeZoneMiddleware` activates one or the other per request.
"""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


@lru_cache(maxsize=1)
def time_zone_names() -> list[str]:
    """The IANA zone names a person may pick (sorted, without the legacy aliases)."""
    legacy = ("Etc/", "SystemV/", "posix/", "right/")
    names = (n for n in zoneinfo.available_timezones() if "/" in n and not n.startswith(legacy))
    return [*sorted(names), "UTC"]


def validate_time_zone(value: str) -> None:
    if value not in time_zone_names():
        raise ValidationError(
            "%(value)s is not a time zone name such as America/Chicago or Europe/Paris.",
            params={"value": value},
        )


class StaffPreference(models.Model):
    """One row per staff member who chose something; no row means the site's defaults."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_preference"
    )
    time_zone = models.CharField(
        max_length=64,
        validators=[validate_time_zone],
        help_text="Times in the admin are shown in this zone, with its abbreviation.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "staff preference"

    def __str__(self) -> str:
        return f"{self.user}: {self.time_zone}"


def staff_time_zone(user_id: int) -> str:
    """The zone this staff member reads the admin in: their own, else `ADMIN_TIME_ZONE`."""
    chosen = (
        StaffPreference.objects.filter(user_id=user_id).values_list("time_zone", flat=True).first()
    )
    return chosen or settings.ADMIN_TIME_ZONE


def staff_time_zone_set(*, user_id: int, time_zone: str) -> StaffPreference:
    """Record the staff member's zone (validated; an unknown name raises ValidationError)."""
    validate_time_zone(time_zone)
    preference, _ = StaffPreference.objects.update_or_create(
        user_id=user_id, defaults={"time_zone": time_zone}
    )
    return preference
