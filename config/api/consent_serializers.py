"""What the partner API accepts and answers about consent and contacts (`config.api.consent`).

Input serializers only check shapes and vocabularies (a phone number that parses, a method from
`ConsentMethod`, a time with its zone); the services decide everything else. Output serializers
render ledger events, consent overviews and contacts; phone numbers always leave in E.164.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from consent.models import ConsentEvent, ConsentMethod, Contact, MessageType
from consent.phones import InvalidPhoneNumber, normalize_phone

#: What `program` may be in an opt-out besides a program's slug.
ALL_PROGRAMS = "all"


class PhoneField(serializers.CharField):
    """A phone number in any format, validated and given back in E.164."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 40)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        raw = super().to_internal_value(data)
        try:
            return normalize_phone(raw)
        except InvalidPhoneNumber as exc:
            raise serializers.ValidationError(str(exc), code="invalid_phone") from exc


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time that names its zone: a consent record's time must be unambiguous."""

    default_error_messages = {
        "naive": "Give the time zone too, e.g. 2025-01-15T14:30:00Z or 2025-01-15T09:30:00-05:00."
    }

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            self.fail("naive")
        return super().enforce_timezone(value)


class StrictTypes:
    """Serializer mixin: a JSON value must have the type the schema promises, no coercion.

    DRF would read ``0`` as false, ``"12"`` as 12 and ``0`` as the text "0" (``tags: [0]``,
    ``smart_encoding: 0``); here each is a 400 naming the field. Text fields take strings,
    boolean fields true/false, integer fields integers (not booleans), lists lists (their
    items checked the same way) and objects objects; null is left to the field's own
    `allow_null`. Query parameters are always strings, which text fields take.
    """

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            errors = {}
            for field in self._writable_fields:
                if field.field_name in data:
                    problem = _type_problem(field, data[field.field_name])
                    if problem:
                        errors[field.field_name] = [problem]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


def _type_problem(field: serializers.Field, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else "Must be true or false."
    if isinstance(field, serializers.IntegerField):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "Must be an integer."
    if isinstance(field, serializers.ListField):
        if not isinstance(value, list):
            return "Must be a list."
        problems = (_type_problem(field.child, item) for item in value)
        return next((f"Item {p[0].lower()}{p[1:]}" for p in problems if p), None)
    if isinstance(field, serializers.DictField | serializers.Serializer):
        return None if isinstance(value, dict) else "Must be an object."
    text_fields = (serializers.CharField, serializers.DateTimeField, serializers.DateField)
    if isinstance(field, text_fields) or (
        isinstance(field, serializers.ChoiceField)
        and all(isinstance(choice, str) for choice in field.choices)
    ):
        return None if isinstance(value, str) else "Must be a string."
    return None


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(value: Any, path: str = "") -> None:
    """Refuse NUL and lone surrogate characters anywhere in a JSON value: PostgreSQL can store
    neither (the request would fail with a 500 instead of a 400)."""
    if isinstance(value, str) and _UNSTORABLE.search(value):
        raise serializers.ValidationError(
            f"{path or 'A value'} contains a NUL or a lone surrogate character."
        )
    if isinstance(value, dict):
        for key, item in value.items():
            _storable(key, path)
            _storable(item, f"{path}.{key}" if path else str(key))
    if isinstance(value, list):
        for item in value:
            _storable(item, path)


# --- Opt-ins and opt-outs -------------------------------------------------------------------


class EvidenceSerializer(StrictTypes, serializers.Serializer):
    """Proof of a web opt-in (TSR 310.5): where the form was and who submitted it."""

    ip = serializers.IPAddressField(required=False)
    user_agent = serializers.CharField(required=False, max_length=1000)
    page_url = serializers.URLField(required=False, max_length=2000)


class OptInSerializer(StrictTypes, serializers.Serializer):
    phone = PhoneField(help_text="Any format; stored and answered in E.164.")
    program = serializers.SlugField(max_length=64, help_text="The program's slug.")
    method = serializers.ChoiceField(choices=ConsentMethod.choices)
    source = serializers.CharField(
        max_length=500, help_text="Where consent was given: form URL, keyword + number, ..."
    )
    occurred_at = AwareDateTimeField(help_text="When the person opted in, with its time zone.")
    disclosure_version = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**31 - 1,
        help_text="The program's disclosure shown to the person; default: the one in effect "
        "at occurred_at.",
    )
    evidence = EvidenceSerializer(required=False)


class OptOutSerializer(StrictTypes, serializers.Serializer):
    phone = PhoneField(help_text="Any format.")
    program = serializers.SlugField(
        max_length=64, help_text=f"A program's slug, or “{ALL_PROGRAMS}” to revoke every program."
    )
    method = serializers.ChoiceField(choices=ConsentMethod.choices)
    source = serializers.CharField(max_length=500)
    occurred_at = AwareDateTimeField(required=False, help_text="Default: now.")
    text = serializers.CharField(
        required=False,
        max_length=1600,
        trim_whitespace=False,
        help_text="The person's own words, kept verbatim as evidence.",
    )


class ConsentEventSerializer(serializers.ModelSerializer):
    """One ledger entry, as recorded."""

    program = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    disclosure_version = serializers.IntegerField(
        source="disclosure.version", allow_null=True, read_only=True
    )

    class Meta:
        model = ConsentEvent
        fields = [
            "id",
            "phone",
            "program",
            "kind",
            "resulting_status",
            "method",
            "source",
            "occurred_at",
            "recorded_at",
            "disclosure_version",
            "disclosure_hash",
            "evidence",
        ]
        read_only_fields = fields


class OptInResultSerializer(ConsentEventSerializer):
    confirmation_message_id = serializers.IntegerField(
        allow_null=True,
        read_only=True,
        help_text="The outbound message queued to confirm the opt-in (or ask for YES), if any.",
    )

    class Meta(ConsentEventSerializer.Meta):
        fields = [*ConsentEventSerializer.Meta.fields, "confirmation_message_id"]
        read_only_fields = fields


class OptOutResultSerializer(serializers.Serializer):
    phone = serializers.CharField()
    suppressed = serializers.BooleanField(
        help_text="The number is now suppressed for every program (program “all”)."
    )
    events = ConsentEventSerializer(many=True, help_text="The ledger events written.")


# --- Reading consent ------------------------------------------------------------------------


class ProgramConsentSerializer(serializers.Serializer):
    program = serializers.CharField(help_text="The program's slug.")
    status = serializers.CharField(help_text="opted_in, pending or opted_out.")
    since = serializers.DateTimeField(help_text="When the event that set the status occurred.")
    method = serializers.CharField(
        allow_null=True, help_text="How consent was given (the latest opt-in or confirmation)."
    )
    source = serializers.CharField(allow_null=True)
    disclosure_version = serializers.IntegerField(allow_null=True)
    opted_in_at = serializers.DateTimeField(allow_null=True)
    opted_out_at = serializers.DateTimeField(allow_null=True)


class ConsentLookupSerializer(serializers.Serializer):
    phone = serializers.CharField()
    suppressed = serializers.BooleanField(
        help_text="An active suppression covers every program for this number."
    )
    programs = ProgramConsentSerializer(many=True)


class ConsentCheckQuerySerializer(StrictTypes, serializers.Serializer):
    phone = PhoneField()
    program = serializers.SlugField(max_length=64)
    message_type = serializers.ChoiceField(
        choices=MessageType.choices, required=False, help_text="Default: the program's own."
    )


class ConsentCheckSerializer(serializers.Serializer):
    phone = serializers.CharField()
    allowed = serializers.BooleanField()
    reason = serializers.CharField(
        help_text="ok, program_inactive, message_type_not_covered, suppressed, no_consent, "
        "pending_confirmation or opted_out."
    )


# --- Contacts -------------------------------------------------------------------------------

_STATE = re.compile(r"^[A-Z]{2}$")


class ContactSerializer(StrictTypes, serializers.ModelSerializer):
    """A contact, upserted by phone: the fields given replace the stored ones, the rest stay.

    Values are checked by the model's own validators (time zone, e-mail, lengths).
    """

    phone = PhoneField(help_text="Any format; the contact's key.")
    tags = serializers.ListField(
        child=serializers.SlugField(max_length=64),
        required=False,
        write_only=True,
        max_length=100,
        help_text="Replaces the contact's tags when given.",
    )
    attributes = serializers.DictField(
        required=False, help_text="Replaces the contact's attributes when given."
    )

    class Meta:
        model = Contact
        fields = [
            "phone",
            "first_name",
            "last_name",
            "email",
            "locale",
            "time_zone",
            "state",
            "postal_code",
            "attributes",
            "tags",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def validate_state(self, value: str) -> str:
        value = value.strip().upper()
        if value and not _STATE.match(value):
            raise serializers.ValidationError("A two-letter US state code, e.g. FL.")
        return value

    def validate_attributes(self, value: dict) -> dict:
        _storable(value)
        return value

    def to_representation(self, instance: Contact) -> dict:
        data = super().to_representation(instance)
        data["tags"] = sorted(tag.name for tag in instance.tags.all())
        return data


# --- Exports --------------------------------------------------------------------------------


class ExportQuerySerializer(StrictTypes, serializers.Serializer):
    since = AwareDateTimeField(
        required=False, help_text="Opt-outs that occurred at or after this time (with its zone)."
    )
    program = serializers.SlugField(required=False, max_length=64)

    def to_internal_value(self, data):
        # An unencoded "+01:00" in a query string arrives as " 01:00".
        if isinstance(since := data.get("since"), str):
            data = data.copy()
            data["since"] = re.sub(r" (\d\d:?\d\d)$", r"+\1", since)
        return super().to_internal_value(data)
