"""Small `create_*` helpers for the core models, and the staff personas."""

from __future__ import annotations

import itertools
from datetime import datetime

from django.contrib.auth.models import Group, User
from django.utils import timezone

from consent import services
from consent.models import Contact, Disclosure, MessageType, Program
from consent.roles import COMPLIANCE, MARKETING, SUPPORT

_numbers = itertools.count(1)


def next_phone() -> str:
    """A distinct valid US mobile-format number per call (+1 415 555 01xx... range)."""
    n = next(_numbers)
    return f"+1415{2000000 + n:07d}"


def create_program(slug: str = "offers", **fields) -> Program:
    defaults = {
        "name": slug.replace("-", " ").title(),
        "brand_name": "Acme",
        "message_type": MessageType.MARKETING,
        "help_text": "Acme: help at acme.example/help or 800-555-0100. Reply STOP to cancel.",
        "opt_in_confirmation_text": (
            "Acme Offers: you are enrolled. Msg frequency varies. Msg & data rates may apply. "
            "Reply HELP for help, STOP to cancel."
        ),
        "opt_out_confirmation_text": "Acme: you are unsubscribed and will get no more messages.",
        "double_opt_in_request_text": "Acme: reply YES to confirm your subscription.",
    }
    program = Program.objects.create(slug=slug, **(defaults | fields))
    Disclosure.objects.create(
        program=program,
        version=1,
        text=f"By checking this box you agree to receive {program.name} texts from Acme. "
        "Consent is not a condition of purchase. Msg & data rates may apply. Reply STOP to cancel.",
        effective_at=timezone.now() - timezone.timedelta(days=365),
    )
    return program


def create_contact(phone: str | None = None, **fields) -> Contact:
    return Contact.objects.create(phone=phone or next_phone(), **fields)


def opt_in(
    contact: Contact,
    program: Program,
    *,
    at: datetime | None = None,
    confirmed: bool = True,
    method: str = "web_form",
    source: str = "https://acme.example/join",
):
    return services.consent_opt_in(
        contact=contact,
        program=program,
        method=method,
        source=source,
        occurred_at=at,
        confirmed=confirmed,
        evidence={"ip": "203.0.113.7", "user_agent": "Mozilla/5.0"},
    ).event


def create_user(username: str, group: str | None = None, *, superuser: bool = False) -> User:
    if superuser:
        return User.objects.create_superuser(username, f"{username}@acme.example", "pw")
    user = User.objects.create_user(username, f"{username}@acme.example", "pw", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def marketer() -> User:
    return create_user("mia_marketing", MARKETING)


def compliance_approver() -> User:
    return create_user("carl_compliance", COMPLIANCE)


def support_agent() -> User:
    return create_user("sam_support", SUPPORT)


def create_template(program: Program | None = None, *, owner: User | None = None, **fields):
    from templates.models import MessageTemplate

    defaults = {"name": "Weekend sale", "category": "promotional"}
    return MessageTemplate.objects.create(
        program=program or create_program(),
        owner=owner or create_user(f"owner{next(_numbers)}"),
        **(defaults | fields),
    )


GOOD_BODY = (
    "Acme: {first_name|Hi there}, 20% off this weekend at https://acme.example/sale "
    "Reply STOP to opt out"
)


def create_version(template=None, *, body: str = GOOD_BODY, author: User | None = None):
    from templates.models import TemplateVersion

    template = template or create_template()
    return TemplateVersion.objects.create(
        template=template, body=body, author=author or template.owner
    )


def create_sender(program: Program | None = None, **fields):
    from messaging.models import Sender

    defaults = {
        "name": "Main line",
        "phone_number": f"+1833555{next(_numbers) % 10000:04d}",
        "mps": 1000.0,
    }
    sender = Sender.objects.create(**(defaults | fields))
    if program is not None:
        sender.programs.add(program)
    return sender


def create_approved_version(template=None, *, body: str = GOOD_BODY):
    version = create_version(template, body=body)
    version.submit(by=version.author)
    version.approve(by=create_user(f"reviewer{next(_numbers)}"))
    return version


def create_campaign(program: Program, *, bodies: list[str] | None = None, filters=None, **fields):
    from campaigns.models import Audience, Campaign, CampaignVariant

    owner = create_user(f"campaigner{next(_numbers)}")
    audience = Audience.objects.create(name=f"Audience {next(_numbers)}", filters=filters or {})
    campaign = Campaign.objects.create(
        name=fields.pop("name", "Weekend sale"),
        program=program,
        audience=audience,
        created_by=owner,
        **fields,
    )
    campaign.senders.add(create_sender(program))
    for label, body in zip("ABCDEFG", bodies or [GOOD_BODY], strict=False):
        version = create_approved_version(
            create_template(program, owner=owner, name=f"T{next(_numbers)}"), body=body
        )
        CampaignVariant.objects.create(campaign=campaign, label=label, template_version=version)
    return campaign


def create_api_client(*, scopes: list[str], name: str | None = None, **fields):
    """(ApiClient, key) for a partner with these scopes."""
    from messaging.api_clients import api_client_create

    return api_client_create(name=name or f"Partner {next(_numbers)}", scopes=scopes, **fields)


def hand_off(message, *, status: str = "delivered", at: datetime | None = None):
    """Stand in for dispatch and the provider: the message's short links made as at hand-off
    (`LinkMaker`), stored with its outcome at `at` (default now)."""
    from messaging.links import LinkMaker
    from messaging.models import OutboundMessage

    LinkMaker().shorten(message)
    at = at or timezone.now()
    OutboundMessage.objects.filter(pk=message.pk).update(
        body=message.body,
        status=status,
        provider_sid=f"SM{message.pk}",
        sent_at=at,
        delivered_at=at if status == "delivered" else None,
    )
    message.refresh_from_db()
    return message
