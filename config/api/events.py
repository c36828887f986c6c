"""Partner API for events that trigger flows, mounted at /api/v1/ (see config/api/urls.py).

    POST /events/    events:write    report something that happened to a person (202)

A `conversion.recorded` event is also an order: `data` carries `order_id`, `value` and
`currency`, and `messaging.conversions.conversion_record` counts each order id once and credits
it to the person's last human click (else their last delivered message) within its window.

A thin view: the input serializer checks the request, `campaigns.flows.flow_event_record`
stores the event and fires its flows, the output serializer answers with what each flow
decided. Every refusal is ``{"code", "message", "fields"}`` (config/api/errors.py) and
writes nothing; `Idempotency-Key` makes a retried POST return the first answer.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.urls import path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.flow_rules import CONVERSION_EVENT, EVENT_TYPE_PATTERN, INTERNAL_EVENTS
from campaigns.flows import flow_event_record
from campaigns.models import FlowRun, FlowRunOutcome
from config.api.consent_serializers import AwareDateTimeField, StrictTypes
from config.api.errors import ApiError
from config.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from config.api.idempotency import idempotent
from config.api.message_serializers import ErrorSerializer
from consent.contacts import number_erased
from consent.phones import normalize_phone
from consent.services import FUTURE_TOLERANCE, contact_get_or_create
from messaging.conversions import conversion_record
from messaging.models import Attribution, Scope

#: The largest `data` object accepted, as compact JSON.
MAX_DATA_BYTES = 16_000


@extend_schema_field(
    {
        "type": "object",
        "description": "Anything about the event the flows may test or show: conditions read "
        "`data.<key>` (dotted paths into nested objects), templates show `{event.<key>}`. "
        "Times are ISO 8601 with an offset (a flow may count from one, e.g. "
        f"`appointment_at`). At most {MAX_DATA_BYTES:,} bytes as JSON.",
        "additionalProperties": True,
        "example": {"appointment_at": "2026-03-12T15:30:00-05:00", "shop": "Downtown"},
    }
)
class EventDataField(serializers.Field):
    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise serializers.ValidationError("Give the data as a JSON object.")
        encoded = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if len(encoded.encode()) > MAX_DATA_BYTES:
            raise serializers.ValidationError(f"At most {MAX_DATA_BYTES:,} bytes as JSON.")
        if "\\u0000" in encoded:  # PostgreSQL's JSON cannot hold NUL
            raise serializers.ValidationError("The data contains a NUL character.")
        return data

    def to_representation(self, value: dict[str, Any]) -> dict[str, Any]:
        return value


class EventSerializer(StrictTypes, serializers.Serializer):
    """What a partner reports: which event, about whom, when, and its details."""

    type = serializers.RegexField(
        EVENT_TYPE_PATTERN,
        max_length=64,
        help_text="Lowercase and dotted: lead.created, appointment.booked, order.delivered.",
        error_messages={"invalid": "An event type such as lead.created (lowercase, dotted)."},
    )
    phone = serializers.CharField(max_length=40, help_text="Any format; answered in E.164.")
    occurred_at = AwareDateTimeField(
        required=False, help_text="When it happened, with an offset. Default: now."
    )
    data = EventDataField(required=False, default=dict)

    def validate_type(self, value: str) -> str:
        if value in INTERNAL_EVENTS:
            raise serializers.ValidationError(f"{value} is raised by this system, not by partners.")
        return value

    def validate_occurred_at(self, value):
        if value > timezone.now() + FUTURE_TOLERANCE:
            raise serializers.ValidationError(f"{value.isoformat()} is in the future.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["type"] == CONVERSION_EVENT:
            attrs["order"] = _order(attrs.get("data") or {})
        return attrs


def _order(data: dict[str, Any]) -> dict[str, Any]:
    """A conversion's order_id, value and currency, or a ValidationError naming `data`."""
    order_id = data.get("order_id")
    if isinstance(order_id, int) and not isinstance(order_id, bool):
        order_id = str(order_id)
    if not isinstance(order_id, str) or not order_id.strip() or len(order_id) > 120:
        raise serializers.ValidationError(
            {"data": ["A conversion needs data.order_id (a string, at most 120 characters)."]}
        )
    try:
        value = Decimal(str(data.get("value")))
    except (InvalidOperation, ValueError):
        value = None
    if value is None or isinstance(data.get("value"), bool) or not value.is_finite() or value < 0:
        raise serializers.ValidationError(
            {"data": ["A conversion needs data.value, a number of 0 or more (e.g. 49.90)."]}
        )
    currency = data.get("currency")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise serializers.ValidationError(
            {"data": ["A conversion needs data.currency, a three-letter code such as USD."]}
        )
    return {
        "order_id": order_id.strip(),
        "value": value.quantize(Decimal("0.01")),
        "currency": currency.upper(),
    }


class FlowRunSerializer(serializers.ModelSerializer):
    flow = serializers.CharField(source="flow.name", help_text="The flow's name.")
    outcome = serializers.ChoiceField(FlowRunOutcome.choices)
    reason = serializers.CharField(
        help_text="Why it was skipped or blocked: too_late, anchor_missing, no_consent, ..."
    )
    message_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = FlowRun
        fields = ["flow", "outcome", "reason", "fire_at", "message_id"]


class ConversionSerializer(serializers.Serializer):
    order_id = serializers.CharField()
    counted = serializers.BooleanField(
        help_text="False when this order id was already reported: it counts once."
    )
    attribution = serializers.ChoiceField(Attribution.choices)
    campaign_id = serializers.IntegerField(allow_null=True)
    message_id = serializers.IntegerField(allow_null=True)


class EventResultSerializer(serializers.Serializer):
    """The stored event and one run per flow whose conditions held."""

    id = serializers.IntegerField()
    type = serializers.CharField()
    phone = serializers.CharField(source="contact.phone", help_text="E.164.")
    occurred_at = serializers.DateTimeField()
    runs = FlowRunSerializer(many=True)
    conversion = ConversionSerializer(
        required=False,
        allow_null=True,
        help_text="For a `conversion.recorded` event: the order, counted once.",
    )


EVENT_EXAMPLE = {
    "type": "appointment.booked",
    "phone": "(415) 555-2671",
    "occurred_at": "2026-03-09T10:02:00-05:00",
    "data": {"appointment_at": "2026-03-12T15:30:00-05:00", "service": "bike tune-up"},
}
EVENT_ANSWER = {
    "id": 4107,
    "type": "appointment.booked",
    "phone": "+14155552671",
    "occurred_at": "2026-03-09T15:02:00Z",
    "runs": [
        {
            "flow": "Appointment confirmation",
            "outcome": "queued",
            "reason": "",
            "fire_at": "2026-03-09T15:02:00Z",
            "message_id": 99812,
        },
        {
            "flow": "Appointment reminder",
            "outcome": "queued",
            "reason": "",
            "fire_at": "2026-03-11T20:30:00Z",
            "message_id": 99813,
        },
    ],
}


class EventCreate(APIView):
    required_scopes = {"POST": Scope.EVENTS_WRITE}

    @extend_schema(
        operation_id="events_create",
        summary="Report an event that may trigger flows",
        description="Stores the event for the person (created if new) and fires every active "
        "flow whose trigger is `type` and whose conditions hold. Each run says what was "
        "decided: `queued` (the message is due at `fire_at`; quiet hours and caps apply "
        "when it goes), `blocked` (the consent gate refused now) or `skipped` (e.g. "
        "`too_late`: the time to send passed). Flows whose conditions do not hold get no run.",
        request=EventSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Any unique string (≤255): a repeat returns the first answer and "
                "fires nothing again.",
            )
        ],
        responses={
            202: EventResultSerializer,
            400: OpenApiResponse(ErrorSerializer, description="Invalid input; see `fields`."),
            401: OpenApiResponse(ErrorSerializer, description="No key, or an unknown one."),
            403: OpenApiResponse(ErrorSerializer, description="The key lacks events:write."),
            422: OpenApiResponse(ErrorSerializer, description="Idempotency-Key reused."),
            429: OpenApiResponse(ErrorSerializer, description="Over the client's rate."),
        },
        examples=[
            OpenApiExample("Appointment booked", value=EVENT_EXAMPLE, request_only=True),
            OpenApiExample(
                "Two flows fired",
                value=EVENT_ANSWER,
                response_only=True,
                status_codes=["202"],
            ),
            OpenApiExample(
                "Bad phone",
                value={
                    "code": "invalid_phone",
                    "message": "“555” is not a valid phone number.",
                    "fields": {"phone": ["“555” is not a valid phone number."]},
                },
                response_only=True,
                status_codes=["400"],
            ),
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        incoming = EventSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        # InvalidPhoneNumber becomes 400 invalid_phone on `phone` (config/api/errors.py).
        e164 = normalize_phone(data["phone"])
        if number_erased(e164):
            raise ApiError(
                f"{e164} was erased on request; nothing can be recorded for it.",
                code="erased",
                field="phone",
            )
        occurred_at = data.get("occurred_at") or timezone.now()
        conversion = None
        with transaction.atomic():
            contact = contact_get_or_create(phone=e164)
            event, runs = flow_event_record(
                type=data["type"],
                contact=contact,
                occurred_at=occurred_at,
                data=data["data"],
                client=request.auth,
            )
            if "order" in data:
                order, counted = conversion_record(
                    contact=contact, occurred_at=occurred_at, **data["order"]
                )
                conversion = {
                    "order_id": order.order_id,
                    "counted": counted,
                    "attribution": order.attribution,
                    "campaign_id": order.campaign_id,
                    "message_id": order.message_id,
                }
        return Response(
            EventResultSerializer(
                {
                    "id": event.pk,
                    "type": event.type,
                    "contact": contact,
                    "occurred_at": event.occurred_at,
                    "runs": runs,
                    "conversion": conversion,
                }
            ).data,
            status=status.HTTP_202_ACCEPTED,
        )


urlpatterns = [path("events/", EventCreate.as_view(), name="api-events")]
