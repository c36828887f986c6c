"""Helpers for registration and program-review tests: a clean approved registration and
messages "sent" on its senders."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from campaigns.registrations.models import Brand, Registration, RegistrationSnapshot
from messaging.models import OutboundMessage
from tests.factories import create_contact, create_user

_n = itertools.count(1)

SAMPLE_SALE = (
    "Acme: [first name], 20% off this weekend at https://acme.example/sale Reply STOP to opt out"
)
SAMPLE_RESTOCK = (
    "Acme: [first name], the tents you liked are back in stock at https://acme.example/tents "
    "Reply STOP to opt out"
)


def join_url(program) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("consent:join", args=[program.slug])


def create_brand(**fields) -> Brand:
    defaults = {
        "entity_type": "PRIVATE_PROFIT",
        "legal_name": "Acme Outdoor LLC",
        "display_name": "Acme",
        "tax_id": "12-3456789",
        "support_email": "help@acme.example",
        "website": "https://acme.example",
        "vertical": "RETAIL",
    }
    return Brand.objects.create(**(defaults | fields))


def clean_content(program, **changes) -> dict:
    content = {
        "use_case": "MARKETING",
        "description": "Acme Outdoor sends offers and restock alerts to customers who asked "
        "for them on its website.",
        "message_flow": "Customers opt in on the web form at "
        f"{join_url(program)} by ticking an unchecked box next to the disclosure, or by "
        "texting JOIN to our number.",
        "message_samples": [SAMPLE_SALE, SAMPLE_RESTOCK],
        "opt_in_keywords": ["JOIN", "START"],
        "opt_in_message": program.opt_in_confirmation_text,
        "opt_out_keywords": ["STOP", "END", "CANCEL"],
        "opt_out_message": program.opt_out_confirmation_text,
        "help_keywords": ["HELP", "INFO"],
        "help_message": program.help_text,
        "has_embedded_links": True,
        "link_domains": ["acme.example"],
        "privacy_policy_url": "https://acme.example/privacy",
        "terms_url": "https://acme.example/terms",
    }
    return content | changes


def create_registration(
    program, senders=(), *, approved: bool = True, name: str | None = None, **changes
) -> Registration:
    """A registration of `program`'s traffic on `senders`, its snapshot submitted (and
    approved): clean unless `changes` say otherwise."""
    if not program.join_keywords:
        program.join_keywords = ["JOIN"]
        program.save(update_fields=["join_keywords"])
    registration = Registration.objects.create(
        kind=changes.pop("kind", "10dlc"),
        name=name or f"Registration {next(_n)}",
        brand=changes.pop("brand", None) or create_brand(),
        att_messages_per_minute=changes.pop("att_messages_per_minute", None),
        tmobile_daily_segments=changes.pop("tmobile_daily_segments", None),
    )
    registration.programs.add(program)
    registration.senders.add(*senders)
    user = create_user(f"registrar{next(_n)}")
    snapshot = RegistrationSnapshot(
        registration=registration, created_by=user, **clean_content(program, **changes)
    )
    snapshot.save()
    snapshot.submit(by=user)
    if approved:
        snapshot.approve(note="Approved by the carriers")
    registration.refresh_from_db()
    return registration


def send(
    sender,
    program,
    *,
    version=None,
    body: str | None = None,
    count: int = 1,
    at: datetime | None = None,
    message_type: str | None = None,
    error_code: int | None = None,
    segments: int = 1,
) -> list[OutboundMessage]:
    """`count` messages handed to the provider at `at` (default an hour ago)."""
    at = at or timezone.now() - timedelta(hours=1)
    contact = create_contact()
    rows = [
        OutboundMessage(
            contact=contact,
            to=contact.phone,
            sender=sender,
            program=program,
            message_type=message_type or program.message_type,
            kind="api" if version is None else "campaign",
            template_version=version,
            body=body or (version.body if version else "Acme: hello. Reply STOP to opt out"),
            status="failed" if error_code else "delivered",
            error_code=error_code,
            provider_sid="SM" + uuid.uuid4().hex,
            sent_at=at,
            segments=segments,
        )
        for _ in range(count)
    ]
    return OutboundMessage.objects.bulk_create(rows)
