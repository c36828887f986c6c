"""The staff member's own page for the zone the admin shows times in."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone

from consent.staff_preferences import staff_time_zone, staff_time_zone_set, time_zone_names


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(
        label="Your time zone",
        help_text="Every date and time in the admin is shown in this zone, with its abbreviation.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(name, name) for name in time_zone_names()]


def time_zone_view(site: AdminSite, request: HttpRequest) -> HttpResponse:
    """GET shows the form with the zone in use; POST records the choice and comes back here."""
    if request.method == "POST":
        form = TimeZoneForm(request.POST)
        if form.is_valid():
            staff_time_zone_set(user_id=request.user.pk, time_zone=form.cleaned_data["time_zone"])
            messages.success(request, f"Times are now shown in {form.cleaned_data['time_zone']}.")
            return redirect("admin:staff_time_zone")
    else:
        form = TimeZoneForm(initial={"time_zone": staff_time_zone(request.user.pk)})
    context = {
        **site.each_context(request),
        "title": "Your time zone",
        "subtitle": None,
        "form": form,
        "now": timezone.now(),
    }
    request.current_app = site.name
    return TemplateResponse(request, "admin/staff_time_zone.html", context)
