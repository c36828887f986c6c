"""Forms of the public consent pages: the hosted opt-in form and the preference centre."""

from __future__ import annotations

from django import forms

from .models import Channel, Disclosure, FrequencyPreference, Program
from .phones import InvalidPhoneNumber, normalize_phone


class JoinForm(forms.Form):
    """Phone, optional name and an unchecked consent box next to the disclosure shown.

    `disclosure` is the id of the disclosure the page showed: an opt-in is refused if it is no
    longer the program's current one, so the record names exactly what the person read.
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
