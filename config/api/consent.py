"""Partner API for consent and contacts, mounted at /api/v1/ (see config/api/urls.py).

Thin views: an input serializer checks the request, a service in `consent.services` or
`consent.contacts` does the work, an output serializer answers; `consent_docs.py` holds
the OpenAPI description. Phone numbers are accepted in any format and answered in E.164; every
refusal is ``{"code", "message", "fields"}`` (config/api/errors.py). POSTs honour
`Idempotency-Key`, and the same key also makes the ledger write itself idempotent (a repeat
after the stored answer expired writes nothing new).

    POST /opt-ins/                 consent:write   record an opt-in (201)
    POST /opt-outs/                consent:write   record an opt-out, one program or "all" (201)
    GET  /consent/check/           consent:read    the consent gate's answer for one message
    GET  /consent/{phone}/         consent:read    consent per program for a number
    POST /contacts/                consent:write   upsert a contact by phone (201 new, 200 known)
    GET  /contacts/{phone}/        consent:read    one contact
    GET  /exports/opt-outs/        exports:read    the opt-out log as streamed CSV
"""

from __future__ import annotations

import hashlib
import re

from django.db import transaction
from django.http import StreamingHttpResponse
from django.urls import path
from rest_framework import serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.confirmations import opt_in_acknowledge
from config.api.errors import ApiError
from config.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from config.api.idempotency import idempotent
from consent.contacts import UPSERT_FIELDS, contact_upsert, number_erased
from consent.exports import EVIDENCE_RAW_TEXT, content_type, filename, stream_export
from consent.models import (
    ConsentConfirmation,
    ConsentEvent,
    Contact,
    Disclosure,
    MessageType,
    Program,
    Suppression,
)
from consent.phones import InvalidPhoneNumber, normalize_phone, phone_hash
from consent.selectors import can_message, latest_opt_ins, program_by_slug
from consent.services import consent_opt_in, consent_revoke
from messaging.keyword_replies import CONFIRMING_KINDS
from messaging.models import MessageEvent, MessageStatus, Scope

from .consent_docs import (
    CONSENT_CHECK_SCHEMA,
    CONSENT_LOOKUP_SCHEMA,
    CONTACT_DETAIL_SCHEMA,
    CONTACT_UPSERT_SCHEMA,
    OPT_IN_SCHEMA,
    OPT_OUT_EXPORT_SCHEMA,
    OPT_OUT_SCHEMA,
)
from .consent_serializers import (
    ALL_PROGRAMS,
    ConsentLookupSerializer,
    ContactSerializer,
    ExportQuerySerializer,
    OptInResultSerializer,
    OptInSerializer,
    OptOutResultSerializer,
    OptOutSerializer,
)

# --- Shared pieces --------------------------------------------------------------------------


def _valid(serializer: serializers.Serializer) -> dict:
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _program(slug: str, *, must_be_active: bool, cached: bool = False) -> Program:
    try:
        program = program_by_slug(slug) if cached else Program.objects.get(slug=slug)
    except Program.DoesNotExist:
        raise ApiError(
            f"There is no program “{slug}”.", code="unknown_program", field="program"
        ) from None
    if must_be_active and not program.active:
        raise ApiError(f"Program “{slug}” is not active.", code="program_inactive", field="program")
    return program


def _ledger_key(request: Request) -> str | None:
    """The ledger's idempotency key for a request's `Idempotency-Key`, per client (64 chars)."""
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if not key:
        return None
    return hashlib.sha256(f"api:{request.auth.pk}:{key}".encode()).hexdigest()


def _label(request: Request) -> str:
    return f"api:{request.auth.name}"[:200]


def _refuse_erased(e164: str) -> None:
    if number_erased(e164):
        raise ApiError(
            f"{e164} was erased on request; nothing can be recorded for it.",
            code="erased",
            field="phone",
        )


# --- Opt-ins and opt-outs -------------------------------------------------------------------


class OptInView(APIView):
    """Record that a person opted in to a program, with the proof (docs/rules.md#record-keeping).

    A double opt-in program answers `resulting_status: pending` and queues its “reply YES”
    request; other programs are `opted_in` at once and get their opt-in confirmation text.
    """

    required_scopes = {"POST": Scope.CONSENT_WRITE}

    @OPT_IN_SCHEMA
    @idempotent
    def post(self, request: Request) -> Response:
        data = _valid(OptInSerializer(data=request.data))
        program = _program(data["program"], must_be_active=True)
        disclosure = _disclosure(program, data.get("disclosure_version"), data["occurred_at"])
        _refuse_erased(data["phone"])
        # One transaction: if the acknowledgement cannot be queued, no opt-in is left behind
        # unanswered (a retry would otherwise find the event and answer nothing).
        with transaction.atomic():
            recorded = consent_opt_in(
                phone=data["phone"],
                program=program,
                method=data["method"],
                source=data["source"],
                occurred_at=data["occurred_at"],
                disclosure=disclosure,
                evidence=dict(data.get("evidence") or {}),
                recorded_by_label=_label(request),
                idempotency_key=_ledger_key(request),
            )
            message = opt_in_acknowledge(recorded=recorded, program=program)
        event = recorded.event
        if message is not None and message.status == MessageStatus.QUEUED:
            event.confirmation_message_id = message.pk
        else:
            event.confirmation_message_id = _confirmation_message_id(event)
        return Response(OptInResultSerializer(event).data, status=status.HTTP_201_CREATED)


def _disclosure(program: Program, version: int | None, occurred_at) -> Disclosure | None:
    """The program's disclosure `version`, which must have been in effect at `occurred_at`."""
    if version is None:
        return None
    disclosure = Disclosure.objects.filter(program=program, version=version).first()
    if disclosure is None:
        raise ApiError(
            f"Program “{program.slug}” has no disclosure version {version}.",
            code="unknown_disclosure_version",
            field="disclosure_version",
        )
    if disclosure.effective_at > occurred_at:
        raise ApiError(
            f"Disclosure version {version} took effect at {disclosure.effective_at.isoformat()}, "
            "after occurred_at: it cannot have been shown then.",
            code="disclosure_not_effective",
            field="disclosure_version",
        )
    return disclosure


def _confirmation_message_id(event: ConsentEvent) -> int | None:
    """The message that confirms the event (for a repeat answered from the ledger): the one
    recorded once the provider accepted it, else the one queued to confirm it (the last few
    queued to the person are read)."""
    refs = ConsentConfirmation.objects.filter(event=event).values_list("message_ref", flat=True)
    ref = refs.first()
    if ref:
        return int(ref) if ref.isdigit() else None
    queued = (
        MessageEvent.objects.filter(
            message__contact_id=event.contact_id,
            message__kind__in=CONFIRMING_KINDS,
            kind=MessageEvent.Kind.QUEUED,
        )
        .order_by("-pk")
        .values_list("message_id", "data")[:20]
    )
    for message_id, data in queued:
        if isinstance(data, dict) and event.pk in (data.get("confirms") or []):
            return message_id
    return None


class OptOutView(APIView):
    """Record an opt-out: of one program, or of every program with ``"program": "all"``.

    "all" revokes every program the number has consent for and suppresses the number, so that
    programs made later are covered too. Messages still waiting for the person are cancelled in
    the same transaction. An opt-out is recorded even if no opt-in ever was (the person's wish
    is the record), and for an inactive program too: a revocation is never refused.

    A number erased on request is answered 200 with no events: its erasure already suppressed
    it for every program, and writing an event would store the number again.
    """

    required_scopes = {"POST": Scope.CONSENT_WRITE}

    @OPT_OUT_SCHEMA
    @idempotent
    def post(self, request: Request) -> Response:
        data = _valid(OptOutSerializer(data=request.data))
        revoke_all = data["program"] == ALL_PROGRAMS
        programs = None if revoke_all else [_program(data["program"], must_be_active=False)]
        if number_erased(data["phone"]):
            body = {"phone": data["phone"], "suppressed": True, "events": []}
            return Response(OptOutResultSerializer(body).data, status=status.HTTP_200_OK)
        evidence = {EVIDENCE_RAW_TEXT: data["text"]} if data.get("text") else {}
        results = consent_revoke(
            phone=data["phone"],
            programs=programs,
            revoke_all=revoke_all,
            method=data["method"],
            source=data["source"],
            occurred_at=data.get("occurred_at"),
            evidence=evidence,
            recorded_by_label=_label(request),
            idempotency_key=_ledger_key(request),
        )
        body = {
            "phone": data["phone"],
            "suppressed": revoke_all,
            "events": [r.event for r in results],
        }
        return Response(OptOutResultSerializer(body).data, status=status.HTTP_201_CREATED)


# --- Reading consent ------------------------------------------------------------------------


_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,64}$")


def _check_query(params) -> tuple[str, str, str | None]:
    """(phone in E.164, program slug, message type or None), or a 400 naming each bad field."""
    errors: dict[str, list[str]] = {}
    phone, slug, message_type = (params.get(name, "") for name in CHECK_PARAMETERS)
    try:
        phone = normalize_phone(phone) if phone else ""
    except InvalidPhoneNumber as exc:
        errors["phone"] = [str(exc)]
    if not phone and "phone" not in errors:
        errors["phone"] = ["This field is required."]
    if not _SLUG.match(slug):
        errors["program"] = ["A program slug (letters, digits, - and _) is required."]
    if message_type and message_type not in MessageType.values:
        errors["message_type"] = [f"“{message_type}” is not one of {', '.join(MessageType)}."]
    if errors:
        raise serializers.ValidationError(errors)
    return phone, slug, message_type or None


CHECK_PARAMETERS = ("phone", "program", "message_type")


class FirstRenderer(BaseContentNegotiation):
    """Always the view's first renderer (JSON), whatever the Accept header says."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None


class ConsentCheckView(APIView):
    """May this number be sent this kind of message of this program now?

    The answer is the one consent gate's, `consent.selectors.can_message`, the same that
    dispatch asks before every hand-off. An inactive program is an answer (`allowed: false`,
    `program_inactive`), not an error; an unknown program or a number that cannot exist is 400.
    """

    required_scopes = {"GET": Scope.CONSENT_READ}

    # Asked at hundreds of requests a second (bench/bench_consent_check.py): one renderer, no
    # Accept parsing, and the three query parameters checked by hand rather than through a
    # serializer instance (a third of the request's time); the answers and errors are the
    # same as `ConsentCheckQuerySerializer`'s, which documents them.
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FirstRenderer

    @CONSENT_CHECK_SCHEMA
    def get(self, request: Request) -> Response:
        phone, slug, message_type = _check_query(request.query_params)
        # A read-only answer: the program may be up to 15 s old (`program_by_slug`).
        program = _program(slug, must_be_active=False, cached=True)
        decision = can_message(phone, program, message_type)
        answer = {"phone": phone, "allowed": decision.allowed, "reason": decision.reason.value}
        return Response(answer)


class ConsentLookupView(APIView):
    """A number's consent, per program it has a record for.

    A number we never saw answers 200 with ``"programs": []`` rather than 404: a partner asks
    "what consent does this number have?", and for a number we never heard of the true answer
    is "none", the same as for a known contact with no consent; a 404 would make every caller
    treat an ordinary answer as an error. An erased number answers the same way (with
    `suppressed` true): its personal record is gone, its suppression is not.
    """

    required_scopes = {"GET": Scope.CONSENT_READ}

    @CONSENT_LOOKUP_SCHEMA
    def get(self, request: Request, phone: str) -> Response:
        e164 = normalize_phone(phone)  # InvalidPhoneNumber -> 400 invalid_phone, field phone
        contact = Contact.objects.filter(phone=e164).first()
        suppressed = Suppression.objects.suppressing(phone_hash(e164), None).exists()
        body = {"phone": e164, "suppressed": suppressed, "programs": _consent_rows(contact)}
        return Response(ConsentLookupSerializer(body).data)


def _consent_rows(contact: Contact | None) -> list[dict]:
    """Per program with a consent state: the state, and how consent was last given."""
    if contact is None:
        return []
    states = contact.consent_states.select_related("program").order_by("program__slug")
    latest_opt_in = latest_opt_ins(contact)
    rows = []
    for state in states:
        opt_in = latest_opt_in.get(state.program_id)
        rows.append(
            {
                "program": state.program.slug,
                "status": state.status,
                "since": state.since,
                "method": opt_in.method if opt_in else None,
                "source": opt_in.source if opt_in else None,
                "disclosure_version": opt_in.disclosure.version
                if opt_in and opt_in.disclosure
                else None,
                "opted_in_at": state.opted_in_at,
                "opted_out_at": state.opted_out_at,
            }
        )
    return rows


# --- Contacts -------------------------------------------------------------------------------


class ContactUpsertView(APIView):
    """Create a contact, or update the one with that number (fields given replace, others stay).

    Nothing here touches consent. A number erased on request is refused (400 `erased`): the
    person asked us to forget them.
    """

    required_scopes = {"POST": Scope.CONSENT_WRITE}

    @CONTACT_UPSERT_SCHEMA
    @idempotent
    def post(self, request: Request) -> Response:
        data = _valid(ContactSerializer(data=request.data))
        tags = data.pop("tags", None)
        contact, created = contact_upsert(
            phone=data.pop("phone"),
            fields={name: data[name] for name in UPSERT_FIELDS if name in data},
            tags=tags,
        )
        return Response(
            ContactSerializer(contact).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ContactDetailView(APIView):
    """One contact, by number (404 `not_found` for a number we do not hold)."""

    required_scopes = {"GET": Scope.CONSENT_READ}

    @CONTACT_DETAIL_SCHEMA
    def get(self, request: Request, phone: str) -> Response:
        e164 = normalize_phone(phone)
        contact = Contact.objects.filter(phone=e164).prefetch_related("tags").first()
        if contact is None:
            raise ApiError(
                f"No contact {e164}.", code="not_found", status_code=status.HTTP_404_NOT_FOUND
            )
        return Response(ContactSerializer(contact).data)


# --- Exports --------------------------------------------------------------------------------


class JsonErrorsNegotiation(BaseContentNegotiation):
    """The export answers CSV whatever the Accept header says, and its errors JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type

    def select_parser(self, request, parsers):
        return parsers[0]


class OptOutExportView(APIView):
    """The opt-out log (who, which program, when, how, raw text, confirmation) as CSV.

    Streamed, oldest first, never held in memory (``COPY`` on PostgreSQL); cells that could
    start a spreadsheet formula are escaped (consent/exports.py). `since` keeps opt-outs that
    occurred at or after it, so a partner can fetch only what is new since its last run.
    """

    required_scopes = {"GET": Scope.EXPORTS_READ}
    content_negotiation_class = JsonErrorsNegotiation

    @OPT_OUT_EXPORT_SCHEMA
    def get(self, request: Request) -> StreamingHttpResponse:
        query = _valid(ExportQuerySerializer(data=request.query_params))
        program = None
        if "program" in query:
            program = _program(query["program"], must_be_active=False)
        rows = stream_export("opt-outs", "csv", since=query.get("since"), program=program)
        response = StreamingHttpResponse(rows, content_type=content_type("csv"))
        response["Content-Disposition"] = f'attachment; filename="{filename("opt-outs", "csv")}"'
        return response


urlpatterns = [
    path("opt-ins/", OptInView.as_view(), name="api-opt-ins"),
    path("opt-outs/", OptOutView.as_view(), name="api-opt-outs"),
    # Before consent/<phone>/, which would take "check" for a number.
    path("consent/check/", ConsentCheckView.as_view(), name="api-consent-check"),
    path("consent/<str:phone>/", ConsentLookupView.as_view(), name="api-consent"),
    path("contacts/", ContactUpsertView.as_view(), name="api-contacts"),
    path("contacts/<str:phone>/", ContactDetailView.as_view(), name="api-contact"),
    path("exports/opt-outs/", OptOutExportView.as_view(), name="api-export-opt-outs"),
]
