"""Serializers of the messages API: inputs validate, outputs render; no writes happen here.

`MessageSendSerializer` resolves the program (by slug) and the template version (by id, or by
template name to its approved version); everything that needs the service's judgement (is the
version approved, of this program, do the tokens have values) is `message_send`'s to refuse.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.core.validators import ProhibitNullCharactersValidator
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from config.api.consent_serializers import StrictTypes
from consent.models import Program
from messaging.models import MessageEvent, MessageStatus, OutboundMessage
from templates.models import MessageTemplate, TemplateVersion

#: Largest id a client may name (ids are 64-bit); beyond it nothing exists.
MAX_ID = 2**63 - 1
MAX_CONTEXT_KEYS = 50
MAX_CONTEXT_VALUE_LENGTH = 500
#: How far ahead a message may be scheduled.
MAX_SCHEDULE_AHEAD = timedelta(days=30)
#: The longest body the preview reads (a template version holds at most this much).
MAX_PREVIEW_BODY = 1600

_CONTEXT_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}\Z")
_TEXT_VALIDATORS = (ProhibitNullCharactersValidator(), ProhibitSurrogateCharactersValidator())
DECISIONS = ("queued", "held", "blocked")


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    """Every refusal: a stable `code`, a readable `message`, and the fields at fault."""

    code = serializers.CharField(help_text="Stable machine-readable code, e.g. `invalid_phone`.")
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages per input field (`non_field_errors` for the request as a whole).",
    )


@extend_schema_field(
    {
        "type": "object",
        "description": "Values for `{event.<name>}` tokens: names are lowercase identifiers "
        f"(at most 40 characters, {MAX_CONTEXT_KEYS} names); values are text (at most "
        f"{MAX_CONTEXT_VALUE_LENGTH} characters), numbers or null. An ISO 8601 text with an "
        "offset is a date-time (shown in the contact's time zone), `YYYY-MM-DD` a date.",
        "maxProperties": MAX_CONTEXT_KEYS,
        "additionalProperties": {
            "oneOf": [
                {"type": "string", "maxLength": MAX_CONTEXT_VALUE_LENGTH, "nullable": True},
                {"type": "number"},
            ]
        },
        "example": {"appointment_at": "2026-03-12T15:30:00-05:00", "clinic": "Main St"},
    }
)
class ContextField(serializers.Field):
    """A flat JSON object of token values; anything else is refused with a reason."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise serializers.ValidationError("Give the context as a JSON object of values.")
        if len(data) > MAX_CONTEXT_KEYS:
            raise serializers.ValidationError(f"At most {MAX_CONTEXT_KEYS} values.")
        for key, value in data.items():
            if not _CONTEXT_KEY.match(key):
                raise serializers.ValidationError(
                    f"“{key[:50]}” is not a token name: lowercase letters, digits and "
                    "underscores, starting with a letter, at most 40 characters."
                )
            if isinstance(value, bool) or not isinstance(value, str | int | float | None):
                raise serializers.ValidationError(f"“{key}” must be text, a number or null.")
            if isinstance(value, str):
                if len(value) > MAX_CONTEXT_VALUE_LENGTH:
                    raise serializers.ValidationError(
                        f"“{key}” is longer than {MAX_CONTEXT_VALUE_LENGTH} characters."
                    )
                for validator in _TEXT_VALIDATORS:
                    validator(value)
        return data

    def to_representation(self, value: dict[str, Any]) -> dict[str, Any]:
        return value


class MessageSendSerializer(StrictTypes, serializers.Serializer):
    phone = serializers.CharField(
        max_length=32, help_text="The recipient, in any format; answered in E.164."
    )
    program = serializers.CharField(max_length=64, help_text="The program's slug.")
    template_version = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        required=False,
        help_text="An approved template version's id (or give `template`).",
    )
    template = serializers.CharField(
        max_length=120,
        required=False,
        help_text="A template's name in the program: its approved version is sent.",
    )
    context = ContextField(required=False, default=dict)
    send_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="Send no earlier than this (at most 30 days ahead); default now.",
    )

    def validate_program(self, slug: str) -> Program:
        program = Program.objects.filter(slug=slug).first()
        if program is None:
            raise serializers.ValidationError(f"There is no program “{slug}”.")
        return program

    def validate_send_at(self, value):
        if value is not None and value > timezone.now() + MAX_SCHEDULE_AHEAD:
            raise serializers.ValidationError("Schedule at most 30 days ahead.")
        return value

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        by_id, by_name = data.pop("template_version", None), data.pop("template", None)
        if (by_id is None) == (by_name is None):
            raise serializers.ValidationError(
                {"template_version": "Give either “template_version” (an id) or “template”."}
            )
        if by_id is not None:
            version = TemplateVersion.objects.select_related("template").filter(pk=by_id).first()
            if version is None:
                raise serializers.ValidationError(
                    {"template_version": f"There is no template version {by_id}."}
                )
        else:
            template = MessageTemplate.objects.filter(program=data["program"], name=by_name).first()
            if template is None:
                raise serializers.ValidationError(
                    {"template": f"“{data['program'].slug}” has no template named “{by_name}”."}
                )
            version = template.approved_version
            if version is None:
                raise serializers.ValidationError(
                    {"template": f"“{by_name}” has no approved version."}
                )
        data["template_version"] = version
        return data


def _timestamp(value) -> str | None:
    """Rendered as DRF renders any date-time, so a replayed answer is the same text."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return serializers.DateTimeField().to_representation(value) if value else None


class MessageDecisionSerializer(serializers.ModelSerializer):
    """The answer to a send: what was decided now, and the message as it will go."""

    decision = serializers.SerializerMethodField(help_text="queued, held (see reason) or blocked.")
    reason = serializers.CharField(
        read_only=True,
        help_text="Why held (quiet_hours, frequency_cap) or blocked (opted_out, no_consent, "
        "suppressed, ...); empty when queued.",
    )
    held_until = serializers.SerializerMethodField(
        help_text="When a held message may go; null otherwise."
    )
    to = serializers.CharField(read_only=True, help_text="The recipient, E.164.")
    program = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, help_text="The program's slug."
    )
    template_version = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = OutboundMessage
        fields = [
            "id",
            "status",
            "decision",
            "reason",
            "held_until",
            "to",
            "program",
            "template_version",
            "body",
            "segments",
            "encoding",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=DECISIONS))
    def get_decision(self, message: OutboundMessage) -> str:
        return message.status  # a fresh message is queued, held or blocked: the same words

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_held_until(self, message: OutboundMessage) -> str | None:
        if message.status != MessageStatus.HELD:
            return None
        return _timestamp(message.next_attempt_at)


class MessageEventSerializer(serializers.ModelSerializer):
    until = serializers.SerializerMethodField(help_text="For a hold: when it may go; else null.")

    class Meta:
        model = MessageEvent
        fields = ["kind", "at", "reason", "error_code", "until"]
        read_only_fields = fields

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_until(self, event: MessageEvent) -> str | None:
        return _timestamp((event.data or {}).get("until"))


class MessageSerializer(serializers.ModelSerializer):
    """A message as it stands, with everything that happened to it in order."""

    to = serializers.CharField(read_only=True, help_text="The recipient, E.164.")
    program = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, help_text="The program's slug."
    )
    template_version = serializers.PrimaryKeyRelatedField(read_only=True)
    events = MessageEventSerializer(many=True, read_only=True)

    class Meta:
        model = OutboundMessage
        fields = [
            "id",
            "status",
            "reason",
            "to",
            "program",
            "template_version",
            "body",
            "segments",
            "encoding",
            "created_at",
            "sent_at",
            "delivered_at",
            "error_code",
            "events",
        ]
        read_only_fields = fields


class PreviewRequestSerializer(StrictTypes, serializers.Serializer):
    body = serializers.CharField(
        max_length=MAX_PREVIEW_BODY, trim_whitespace=False, help_text="The text, tokens included."
    )
    smart_encoding = serializers.BooleanField(
        default=False,
        help_text="Describe the text after Twilio's Smart Encoding (curly quotes made straight).",
    )
    template = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        required=False,
        allow_null=True,
        help_text="A template's id: check with its program's brand and rules, as the editor does.",
    )


class FindingSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable code, e.g. public_shortener.")
    severity = serializers.ChoiceField(choices=["block", "warn"])
    message = serializers.CharField()
    matched = serializers.ListField(child=serializers.CharField())


class SmartEncodingSerializer(serializers.Serializer):
    text = serializers.CharField()
    encoding = serializers.CharField()
    segments = serializers.IntegerField()
    replaced = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField(), min_length=2, max_length=2)
    )


class PreviewSerializer(serializers.Serializer):
    """What the template editor shows for a body (`templates.admin.analysis_payload`)."""

    encoding = serializers.ChoiceField(choices=["GSM-7", "UCS-2"])
    segments = serializers.IntegerField(help_text="Segments with each token at its shortest.")
    segments_max = serializers.IntegerField(help_text="Segments with each token at its longest.")
    characters = serializers.IntegerField()
    non_gsm = serializers.ListField(
        child=serializers.CharField(), help_text="Characters that force UCS-2."
    )
    smart_encoding = SmartEncodingSerializer(
        help_text="The same body after Smart Encoding, for comparison."
    )
    findings = FindingSerializer(many=True, help_text="Content-check findings.")
    token_error = serializers.CharField(
        allow_null=True, help_text="Why the tokens do not parse; null when they do."
    )
