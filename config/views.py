"""The site's front door: `/` for a person who opens the address `make run` prints."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static

from consent.models import Program


def home(request: HttpRequest) -> HttpResponse:
    """Where to go: the admin, the API docs and the sign-up page of each active program
    (the admin's "View site" lands here too)."""
    programs = Program.objects.filter(active=True).only("slug", "name").order_by("name")
    return render(
        request,
        "config/home.html",
        {"programs": programs, "site_name": settings.SITE_NAME},
    )


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on pages that name no icon."""
    return redirect(static("config/favicon.svg"), permanent=True)
