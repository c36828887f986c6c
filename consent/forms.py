"""Forms of the public consent pages: the hosted opt-in form and the preference centre."""

from __future__ import annotations

from datetime import datetime

from django import forms
from django.conf import settings
from django.core import signing
from django.core.exceptions import NON_FIELD_ERRORS
from django.utils import timezone

from .models import Channel, Disclosure, FrequencyPreference, Program
from .phones import InvalidPhoneNumber, normalize_phone

STARTED_SALT = "consent.join.started"
HONEYPOT_FIELD = "website"
RETRY_MESSAGE = "Please check your details and press Sign up again."


def started_token(at: datetime | None = None) -> str:
    """A signed record of when the form was shown (the time-to-submit check reads it)."""
    return signing.dumps((at or timezone.now()).timestamp(), salt=STARTED_SALT)


def seconds_since(token: str) -> float | None:
    """Seconds since `token` was made, or None for a missing, forged or future one."""
    try:
        shown = float(signing.loads(token, salt=STARTED_SALT))
    except (signing.BadSignature, TypeError, ValueError):
        return None
    elapsed = timezone.now().timestamp() - shown
    return elapsed if elapsed >= 0 else None


class JoinForm(forms.Form):
    """Phone, optional name and an unchecked consent box next to the disclosure shown.

    `disclosure` is the id of the disclosure the page showed: an opt-in is refused if it is no
    longer the program's current one, so the record names exactly what the person read.

    Two checks keep scripts out, both refused with the same plain request to press the button
    again (code ``bot_suspected``): `website` is a field people never see (off-screen, hidden
    from screen readers, out of the tab order) that must stay empty, and `started` (signed by
    `started_token` when the page was shown) must be at least `JOIN_FORM_MIN_SECONDS` old.
    """

    phone = forms.CharField(
        label="Mobile number",
        max_length=40,
        widget=forms.TextInput(
            attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"},
        ),
    )
    name = forms.CharField(
        label="Name (optional)",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    consent = forms.BooleanField(
        label="Yes, text me.",
        required=True,
        error_messages={"required": "Tick the box to agree to receive texts, or leave the page."},
    )
    disclosure = forms.IntegerField(widget=forms.HiddenInput)
    started = forms.CharField(required=False, widget=forms.HiddenInput)
    website = forms.CharField(required=False)

    def __init__(self, *args, program: Program, current: Disclosure, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.program = program
        self.current = current
        self.fields["disclosure"].initial = current.pk
        self.fields["consent"].label = f"Yes, send me {program.name} texts."

    def clean_phone(self) -> str:
        try:
            return normalize_phone(self.cleaned_data["phone"])
        except InvalidPhoneNumber as exc:
            raise forms.ValidationError(str(exc), code="invalid_phone") from exc

    def clean_disclosure(self) -> Disclosure:
        if self.cleaned_data["disclosure"] != self.current.pk:
            raise forms.ValidationError(
                "The terms on this page have changed. Please read them again and resubmit.",
                code="stale_disclosure",
            )
        return self.current

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get(HONEYPOT_FIELD):
            raise forms.ValidationError(RETRY_MESSAGE, code="bot_suspected")
        if self.errors:  # a person fixes those first; the time is checked on the next press
            return cleaned
        elapsed = seconds_since(cleaned.get("started") or "")
        if elapsed is None or elapsed < settings.JOIN_FORM_MIN_SECONDS:
            raise forms.ValidationError(RETRY_MESSAGE, code="bot_suspected")
        return cleaned

    def started_value(self) -> str:
        """The `started` token to render: the one posted if it is genuine, else a new one."""
        posted = self.data.get("started", "") if self.is_bound else ""
        return posted if seconds_since(posted) is not None else started_token()

    def bot_suspected(self) -> bool:
        return self.has_error(NON_FIELD_ERRORS, code="bot_suspected")

    def name_parts(self) -> dict[str, str]:
        """First and last name from the one name box ("Ana María López" -> Ana, María López)."""
        first, _, last = self.cleaned_data["name"].strip().partition(" ")
        return {"first_name": first[:100], "last_name": last.strip()[:100]}


class PreferencesForm(forms.Form):
    """Which of the person's programs stay on, how often, and by which channel."""

    programs = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    frequency = forms.ChoiceField(
        label="How often", choices=FrequencyPreference.choices, widget=forms.RadioSelect
    )
    channel = forms.ChoiceField(
        label="How to reach me", choices=Channel.choices, widget=forms.RadioSelect
    )

    def __init__(self, *args, programs: list[Program], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["programs"].choices = [(p.pk, p.name) for p in programs]
