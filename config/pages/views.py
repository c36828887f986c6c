"""Public consent pages: the hosted opt-in form and the preference centre.

Both are plain server-rendered forms (no JavaScript), CSRF protected, and only call services:
`consent_opt_in` (+ the opt-in acknowledgement) and `consent_preferences_set` / `consent_revoke`.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from campaigns.confirmations import opt_in_acknowledge
from config.lib.text import storable
from consent.forms import HONEYPOT_FIELD, JoinForm, PreferencesForm
from consent.models import (
    ConsentEvent,
    ConsentKind,
    ConsentMethod,
    ConsentStatus,
    Contact,
    MessageType,
    Program,
    Suppression,
)
from consent.preferences import PreferencesLinkError, consent_preferences_set, contact_from_token
from consent.services import ConsentError, consent_opt_in, consent_revoke, contact_get_or_create


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or, behind our one trusted proxy, the address that proxy saw: the last
    X-Forwarded-For entry (the ones before it are whatever the client chose to send)."""
    if settings.TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded.strip():
            return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


def _request_evidence(request: HttpRequest) -> dict[str, Any]:
    # Headers are whatever the client sent: a NUL could not be stored (a 500 on PostgreSQL).
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:500]
    return {"ip": storable(client_ip(request)), "user_agent": storable(user_agent)}


def _over_rate(request: HttpRequest) -> bool:
    limit = settings.JOIN_FORM_RATE_PER_HOUR
    key = f"consent:join:{client_ip(request)}"
    cache.add(key, 0, timeout=3600)
    try:
        return cache.incr(key) > limit
    except ValueError:  # expired between add and incr
        return False


def _texts_this_hour_key() -> str:
    return f"consent:join:texts:{timezone.now():%Y%m%d%H}"


def _over_hourly_ceiling() -> bool:
    """Has the join form asked for `JOIN_FORM_TEXTS_PER_HOUR` texts this clock hour?"""
    return (cache.get(_texts_this_hour_key()) or 0) >= settings.JOIN_FORM_TEXTS_PER_HOUR


def _count_text_this_hour() -> None:
    key = _texts_this_hour_key()
    cache.add(key, 0, timeout=7200)
    with suppress(ValueError):  # expired between add and incr
        cache.incr(key)


def _number_texted_enough(phone: str) -> bool:
    """Did web-form opt-ins of `phone` already ask for `JOIN_FORM_TEXTS_PER_NUMBER_24H` texts
    in the last 24 hours? Read from the ledger (its phone index): exact across processes."""
    limit = settings.JOIN_FORM_TEXTS_PER_NUMBER_24H
    recent = ConsentEvent.objects.filter(
        phone=phone,
        kind=ConsentKind.OPT_IN,
        method=ConsentMethod.WEB_FORM,
        recorded_at__gte=timezone.now() - timedelta(hours=24),
    )
    return len(recent.values_list("pk", flat=True)[:limit]) >= limit


@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, slug: str) -> HttpResponse:
    """The opt-in form of one program. A valid submission records the opt-in with its evidence,
    starts the confirmation (the YES request for double opt-in programs) and redirects."""
    program = get_object_or_404(Program, slug=slug, active=True)
    current = program.current_disclosure()
    if current is None:
        raise Http404("This program has no disclosure in effect, so it cannot take sign-ups.")
    form = JoinForm(request.POST or None, program=program, current=current)
    if request.method == "POST" and form.is_valid():
        if _over_rate(request):
            return _render_join(request, program, form, status=429, refused="address")
        # Either limit refuses before anything is recorded: an opt-in left without its
        # confirmation text would enrol a person who is never told (see README).
        if _over_hourly_ceiling():
            return _render_join(request, program, form, status=429, refused="busy")
        if _number_texted_enough(form.cleaned_data["phone"]):
            return _render_join(request, program, form, status=429, refused="number")
        page_url = request.build_absolute_uri(request.path)
        evidence = _request_evidence(request) | {
            "page_url": page_url,
            "disclosure_version": current.version,
            "submitted_at": timezone.now().isoformat(),
            "phone_as_typed": request.POST.get("phone", "")[:40],
        }
        try:
            with transaction.atomic():
                contact = contact_get_or_create(
                    phone=form.cleaned_data["phone"], defaults=form.name_parts()
                )
                recorded = consent_opt_in(
                    program=program,
                    contact=contact,
                    method=ConsentMethod.WEB_FORM,
                    source=page_url,
                    disclosure=current,
                    evidence=evidence,
                )
                opt_in_acknowledge(recorded=recorded, program=program)
        except ConsentError as exc:
            form.add_error(None, str(exc))
        else:
            _count_text_this_hour()
            done = reverse("consent:join_done", args=[program.slug])
            if recorded.event.resulting_status == ConsentStatus.PENDING:
                done += "?pending=1"
            return redirect(done)
    return _render_join(request, program, form, status=400 if form.is_bound else 200)


def _render_join(
    request: HttpRequest, program: Program, form: JoinForm, *, status: int, refused: str = ""
) -> HttpResponse:
    """The form page; `refused` says why a valid submission was turned away: "address" (this
    connection's hourly sign-ups), "busy" (the hourly ceiling of texts) or "number" (texts to
    this number in 24 hours)."""
    marketing = program.message_type == MessageType.MARKETING
    context = {
        "program": program,
        "disclosure": form.current,
        "form": form,
        "started": form.started_value(),
        "honeypot": HONEYPOT_FIELD,
        "marketing": marketing,
        "terms": _terms_not_in(form.current.text, program),
        "condition": marketing and not _says(form.current.text, "not a condition of purchase"),
        "refused": refused,
        "texts_per_number": settings.JOIN_FORM_TEXTS_PER_NUMBER_24H,
    }
    return render(request, "consent/join.html", context, status=status)


def _says(text: str, words: str) -> bool:
    return words in " ".join(text.lower().split())


def _terms_not_in(disclosure: str, program: Program) -> list[str]:
    """The lines every sign-up page must show, less those the disclosure already says (a
    reader should not meet "Msg & data rates may apply" twice)."""
    lines = [
        (f"{program.frequency_text}.", program.frequency_text.lower()),
        ("Msg & data rates may apply.", "data rates may apply"),
        ("Reply HELP for help, STOP to cancel.", "reply help"),
    ]
    return [line for line, words in lines if not (words and _says(disclosure, words))]


def join_done(request: HttpRequest, slug: str) -> HttpResponse:
    program = get_object_or_404(Program, slug=slug, active=True)
    pending = program.double_opt_in and request.GET.get("pending") == "1"
    return render(request, "consent/join_done.html", {"program": program, "pending": pending})


@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    """The preference centre behind a signed link: programs on/off, frequency, channel, and
    "stop everything". A forged, expired or orphaned link gets a 403 and changes nothing."""
    try:
        contact = contact_from_token(token)
    except PreferencesLinkError as exc:
        return render(request, "consent/link_invalid.html", {"reason": exc.code}, status=403)
    stopped_all = _stopped_all(contact)
    # After "stop everything" the number is suppressed: toggles could record nothing that sends.
    states = (
        []
        if stopped_all
        else list(
            contact.consent_states.filter(program__active=True)
            .select_related("program")
            .order_by("program__name")
        )
    )
    programs = [s.program for s in states]
    initial = {
        "programs": [s.program_id for s in states if s.status != ConsentStatus.OPTED_OUT],
        "frequency": contact.frequency_preference,
        "channel": contact.preferred_channel,
    }
    form = PreferencesForm(request.POST or None, programs=programs, initial=initial)
    # The ledger's source names the page, not the link: the token is a credential.
    source = request.build_absolute_uri(request.path.replace(token, "[link]"))
    evidence = _request_evidence(request)
    if request.method == "POST" and request.POST.get("action") == "stop_all":
        if not stopped_all:  # a second press records nothing new
            consent_revoke(
                contact=contact,
                revoke_all=True,
                method=ConsentMethod.PREFERENCE_CENTRE,
                source=source,
                evidence=evidence,
            )
        return redirect(reverse("consent:preferences", args=[token]) + "?stopped=1")
    if request.method == "POST" and form.is_valid():
        chosen = set(form.cleaned_data["programs"])
        try:
            consent_preferences_set(
                contact=contact,
                programs_on=chosen,
                programs_off={p.pk for p in programs} - chosen,
                frequency=form.cleaned_data["frequency"],
                channel=form.cleaned_data["channel"],
                evidence=evidence,
                source=source,
            )
        except ConsentError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect(reverse("consent:preferences", args=[token]) + "?saved=1")
    context = {
        "contact": contact,
        "form": form,
        "rows": [{"state": s, "checked": str(s.program_id) in _checked(form)} for s in states],
        "stopped_all": stopped_all,
        "saved": request.GET.get("saved") == "1",
        "just_stopped": request.GET.get("stopped") == "1",
    }
    return render(request, "consent/preferences.html", context, status=400 if form.errors else 200)


def _checked(form: PreferencesForm) -> set[str]:
    value = form["programs"].value() or []
    return {str(v) for v in value}


def _stopped_all(contact: Contact) -> bool:
    return Suppression.objects.suppressing(contact.phone_hash, None).exists()
