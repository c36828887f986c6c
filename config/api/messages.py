"""Partner API: send one transactional message, read it back, preview a body.

    POST /api/v1/messages/           send from an approved template version -> 202 + decision
    GET  /api/v1/messages/{id}/      status and events (only messages this client sent)
    POST /api/v1/messages/preview/   encoding, segments and content checks of a body

All three need the `messages:send` scope. The views only validate, call `message_send` or
`analysis_payload` (the template editor's own analysis), and render.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging.models import MessageEvent, MessageKind, OutboundMessage, Scope
from messaging.services import SendError, message_send
from templates.admin import analysis_payload, as_sent, template_for
from templates.encoding import analyze

from .errors import ApiError
from .idempotency import HEADER, idempotent
from .message_serializers import (
    ErrorSerializer,
    MessageDecisionSerializer,
    MessageSendSerializer,
    MessageSerializer,
    PreviewRequestSerializer,
    PreviewSerializer,
)

IDEMPOTENCY_KEY = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Repeat a POST safely: the same key (per client, kept 48 hours by default) answers "
    "with the first response and does nothing again; reused with another body it is a 422.",
)


def _error(description: str, code: str, message: str, fields: dict | None = None):
    return OpenApiResponse(
        ErrorSerializer,
        description=description,
        examples=[
            OpenApiExample(code, value={"code": code, "message": message, "fields": fields or {}})
        ],
    )


UNAUTHENTICATED = _error(
    "No key, or an unknown or revoked one.", "not_authenticated", "An API key is required."
)
FORBIDDEN = _error(
    "The key lacks the `messages:send` scope.",
    "missing_scope",
    "This key lacks the “messages:send” scope.",
)
THROTTLED = _error(
    "Over the client's requests per minute; see Retry-After.",
    "throttled",
    "Request was throttled. Expected available in 12 seconds.",
)

SEND_EXAMPLE = {
    "phone": "(415) 555-0134",
    "program": "appointments",
    "template": "Appointment reminder",
    "context": {"appointment_at": "2026-03-12T15:30:00-05:00", "clinic": "Main St"},
}
_SENT = {
    "id": 48213,
    "to": "+14155550134",
    "program": "appointments",
    "template_version": 12,
    "body": "Acme Clinic: see you Thu Mar 12, 3:30 PM at Main St. Reply STOP to opt out.",
    "segments": 1,
    "encoding": "GSM-7",
    "created_at": "2026-03-11T14:02:11.512000Z",
}


class MessageSendView(APIView):
    required_scope = Scope.MESSAGES_SEND

    @extend_schema(
        operation_id="messages_send",
        summary="Send one message",
        description="Renders an approved template version (by `template_version` id, or by "
        "`template` name in the program) with the contact's fields and `context`, and passes "
        "it through the consent gate and the sending policy. The answer is immediate: "
        "`queued` (it goes out shortly, or at `send_at`), `held` (quiet hours or a frequency "
        "cap: it goes out at `held_until` unless the person opts out first) or `blocked` with "
        "the reason (opted_out, no_consent, pending_confirmation, suppressed, ...). A refusal "
        "of the request itself (bad phone, unknown program, unapproved version, a token with "
        "no value) is a 400 naming the field, and nothing is recorded.",
        tags=["messages"],
        parameters=[IDEMPOTENCY_KEY],
        request=MessageSendSerializer,
        responses={
            202: MessageDecisionSerializer,
            400: _error(
                "The request cannot be sent; nothing was recorded.",
                "missing_token",
                "No value for {event.appointment_at}: give event values in “context”, or set "
                "the contact's fields.",
                {"context": ["No value for {event.appointment_at}: ..."]},
            ),
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            422: _error(
                "The Idempotency-Key was used for another request.",
                "idempotency_key_reused",
                "Idempotency-Key “order-1182” was already used for a different request.",
            ),
            429: THROTTLED,
        },
        examples=[
            OpenApiExample("By template name", value=SEND_EXAMPLE, request_only=True),
            OpenApiExample(
                "By version id, scheduled",
                value={
                    "phone": "+14155550134",
                    "program": "appointments",
                    "template_version": 12,
                    "context": {"appointment_at": "2026-03-12T15:30:00-05:00"},
                    "send_at": "2026-03-11T15:00:00Z",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Queued",
                value={"status": "queued", "decision": "queued", "reason": "", "held_until": None}
                | _SENT,
                response_only=True,
                status_codes=["202"],
            ),
            OpenApiExample(
                "Held for quiet hours",
                value={
                    "status": "held",
                    "decision": "held",
                    "reason": "quiet_hours",
                    "held_until": "2026-03-12T13:00:00Z",
                }
                | _SENT,
                response_only=True,
                status_codes=["202"],
            ),
            OpenApiExample(
                "Blocked: opted out",
                value={
                    "status": "blocked",
                    "decision": "blocked",
                    "reason": "opted_out",
                    "held_until": None,
                }
                | _SENT,
                response_only=True,
                status_codes=["202"],
            ),
        ],
    )
    @idempotent
    def post(self, request):
        incoming = MessageSendSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        try:
            message = message_send(
                phone=data["phone"],
                program=data["program"],
                template_version=data["template_version"],
                context=data["context"],
                send_at=data.get("send_at"),
                client=request.auth,
            )
        except SendError as exc:
            raise ApiError(str(exc), code=exc.code, field=exc.field) from exc
        return Response(MessageDecisionSerializer(message).data, status=status.HTTP_202_ACCEPTED)


def sent_by(client) -> QuerySet[OutboundMessage]:
    """API messages whose first event names `client` (the model has no owner column)."""
    return OutboundMessage.objects.filter(
        kind=MessageKind.API,
        events__kind__in=[MessageEvent.Kind.QUEUED, MessageEvent.Kind.BLOCKED],
        events__data__api_client=client.pk,
    )


class MessageDetailView(APIView):
    required_scope = Scope.MESSAGES_SEND

    @extend_schema(
        operation_id="messages_retrieve",
        summary="A message's status and events",
        description="The message as it stands (queued, held, sending, sent, delivered, "
        "undelivered, failed, blocked, cancelled) and what happened to it, oldest first. "
        "A client sees only the messages it sent; any other id is a 404.",
        tags=["messages"],
        parameters=[
            OpenApiParameter(
                "id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The message's id."
            )
        ],
        responses={
            200: MessageSerializer,
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            404: _error("No such message for this client.", "not_found", "No message 48213."),
            429: THROTTLED,
        },
        examples=[
            OpenApiExample(
                "Delivered",
                value={
                    "status": "delivered",
                    "reason": "",
                    "sent_at": "2026-03-11T14:02:13.004000Z",
                    "delivered_at": "2026-03-11T14:02:16.870000Z",
                    "error_code": None,
                    "events": [
                        {
                            "kind": "queued",
                            "at": "2026-03-11T14:02:11.512000Z",
                            "reason": "",
                            "error_code": None,
                            "until": None,
                        },
                        {
                            "kind": "sent",
                            "at": "2026-03-11T14:02:13.004000Z",
                            "reason": "",
                            "error_code": None,
                            "until": None,
                        },
                        {
                            "kind": "delivered",
                            "at": "2026-03-11T14:02:16.870000Z",
                            "reason": "",
                            "error_code": None,
                            "until": None,
                        },
                    ],
                }
                | _SENT,
                response_only=True,
                status_codes=["200"],
            )
        ],
    )
    def get(self, request, pk: int):
        message = (
            sent_by(request.auth)
            .filter(pk=pk)
            .select_related("program")
            .prefetch_related("events")
            .first()
        )
        if message is None:
            raise ApiError(f"No message {pk}.", code="not_found", status_code=404)
        return Response(MessageSerializer(message).data)


class MessagePreviewView(APIView):
    required_scope = Scope.MESSAGES_SEND

    @extend_schema(
        operation_id="messages_preview",
        summary="Preview a body",
        description="Encoding (GSM-7 or UCS-2), segments, characters, the characters that "
        "force UCS-2, and the content-check findings, exactly as the template editor shows "
        "them. With `smart_encoding`, the top-level figures describe the text after Twilio's "
        "Smart Encoding. Give `template` to check with its program's brand and rules. "
        "Nothing is recorded but an Idempotency-Key's answer.",
        tags=["messages"],
        parameters=[IDEMPOTENCY_KEY],
        request=PreviewRequestSerializer,
        responses={
            200: PreviewSerializer,
            400: _error(
                "The body is missing or too long.",
                "invalid",
                "Invalid fields: body.",
                {"body": ["Ensure this field has no more than 1600 characters."]},
            ),
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            429: THROTTLED,
        },
        examples=[
            OpenApiExample(
                "A body with a shortener",
                value={"body": "Acme: 20% off today only https://bit.ly/x Reply STOP to opt out"},
                request_only=True,
            ),
            OpenApiExample(
                "Findings",
                value={
                    "encoding": "GSM-7",
                    "segments": 1,
                    "characters": 64,
                    "non_gsm": [],
                    "smart_encoding": {
                        "text": "Acme: 20% off today only https://bit.ly/x Reply STOP to opt out",
                        "encoding": "GSM-7",
                        "segments": 1,
                        "replaced": [],
                    },
                    "findings": [
                        {
                            "code": "public_shortener",
                            "severity": "block",
                            "message": "Carriers filter public URL shorteners: use a branded "
                            "domain you control.",
                            "matched": ["https://bit.ly/x"],
                        }
                    ],
                    "token_error": None,
                },
                response_only=True,
                status_codes=["200"],
            ),
        ],
    )
    @idempotent
    def post(self, request):
        incoming = PreviewRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        body = incoming.validated_data["body"]
        template = incoming.validated_data.get("template")
        payload = analysis_payload(body, template_id=template)
        if incoming.validated_data["smart_encoding"]:
            smart = analyze(as_sent(body, template_for(template)), smart_encoding=True)
            payload |= {
                "encoding": smart.encoding,
                "segments": smart.segments,
                "characters": smart.characters,
                "non_gsm": list(smart.non_gsm),
            }
        return Response(PreviewSerializer(payload).data)


urlpatterns = [
    path("messages/", MessageSendView.as_view(), name="api-messages"),
    path("messages/preview/", MessagePreviewView.as_view(), name="api-messages-preview"),
    path("messages/<int:pk>/", MessageDetailView.as_view(), name="api-message"),
]
