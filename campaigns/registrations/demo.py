"""Demo registrations for `seed_demo`: a brand, one registration that matches what is sent and
one that has drifted, and a first program review of each."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from consent.models import Program
from messaging.models import Sender, SenderKind
from templates.models import TemplateVersion, VersionStatus

from .models import (
    Brand,
    BrandStatus,
    EntityType,
    IdentityStatus,
    ProgramReview,
    Registration,
    RegistrationKind,
    RegistrationSnapshot,
    ReviewTrigger,
)
from .review import as_sample, program_review_run
from .validation import has_link, has_phone

BRAND_SID = "BN" + "0a" * 16
#: Names every way the demo ledger records an opt-in, and where the disclosure is shown.
FLOW = (
    "Customers opt in on the web form at {page} by ticking an unchecked box next to the "
    "disclosure, by texting {keyword} to our number, on the paper sign-up sheet in store, by "
    "phone with an agent (verbal consent, recorded), at checkout, or by e-mail."
)


def _snapshot(registration: Registration, program: Program, by, **content) -> None:
    page = program.current_disclosure().page_url
    snapshot = RegistrationSnapshot(
        registration=registration,
        created_by=by,
        message_flow=FLOW.format(page=page, keyword=program.join_keywords[0]),
        opt_in_message=program.opt_in_confirmation_text,
        opt_out_message=program.opt_out_confirmation_text,
        help_message=program.help_text,
        opt_out_keywords=["STOP", "END", "CANCEL", "UNSUBSCRIBE", "QUIT"],
        help_keywords=["HELP", "INFO"],
        privacy_policy_url="https://acme.example/privacy",
        terms_url="https://acme.example/sms-terms",
        **content,
    )
    snapshot.save()
    snapshot.submit(by=by)
    snapshot.approve(note="Approved by the carriers (demo)")


def seed_registrations(*, by) -> bool:
    """Create the demo registrations and review them; False if they exist already."""
    if Brand.objects.filter(provider_sid=BRAND_SID).exists():
        return False
    programs = {p.slug: p for p in Program.objects.filter(slug__in=["offers", "appointments"])}
    if len(programs) != 2:
        return False
    offers, appointments = programs["offers"], programs["appointments"]
    with transaction.atomic():
        brand = Brand.objects.create(
            entity_type=EntityType.PRIVATE_PROFIT,
            legal_name="Acme Outdoor LLC",
            display_name="Acme Outdoor",
            tax_id="12-3456789",
            street="100 Trail Way",
            city="Austin",
            region="TX",
            postal_code="73301",
            phone="+18005550199",
            support_email="help@acme.example",
            website="https://acme.example",
            vertical="RETAIL",
            identity_status=IdentityStatus.VERIFIED,
            trust_score=75,
            registry_brand_id="BDEMO01",
            provider_sid=BRAND_SID,
        )
        brand.set_status(BrandStatus.APPROVED, note="Demo brand")

        # Clean: the reminders campaign, its samples taken from the live templates.
        service_line, _ = Sender.objects.get_or_create(
            phone_number="+15125550110",
            defaults={"name": "Acme service line", "kind": SenderKind.LONG_CODE, "mps": 1},
        )
        clean = Registration.objects.create(
            kind=RegistrationKind.CAMPAIGN_10DLC,
            name="Appointment reminders (10DLC)",
            brand=brand,
            registry_campaign_id="CDEMO01",
            att_messages_per_minute=240,
            tmobile_daily_segments=10_000,
        )
        clean.senders.add(service_line)
        clean.programs.add(appointments)
        bodies = list(
            TemplateVersion.objects.filter(
                template__program=appointments, status=VersionStatus.APPROVED
            )
            .order_by("template__name")
            .values_list("body", flat=True)[:5]
        )
        samples = [as_sample(b) for b in bodies]
        _snapshot(
            clean,
            appointments,
            by,
            use_case="ACCOUNT_NOTIFICATION",
            description="Acme Outdoor Service Center texts customers who booked a bike or gear "
            "service: booking confirmations and a reminder the day before.",
            message_samples=samples,
            opt_in_keywords=list(appointments.join_keywords),
            has_embedded_links=any(has_link(s) for s in samples),
            has_embedded_phone=any(has_phone(s) for s in samples),
            link_domains=["acme.example"],
        )

        # Drifted: registered for in-store offers without links and with JOIN only; since
        # then a linked sale template went live, DEALS joined and the disclosure changed
        # (the registration predates disclosure v2).
        offers_line, _ = Sender.objects.get_or_create(
            phone_number="+15125550111",
            defaults={"name": "Acme offers line", "kind": SenderKind.LONG_CODE, "mps": 1},
        )
        drifted = Registration.objects.create(
            kind=RegistrationKind.CAMPAIGN_10DLC,
            name="Acme Offers (10DLC)",
            brand=brand,
            registry_campaign_id="CDEMO02",
            att_messages_per_minute=240,
            tmobile_daily_segments=10_000,
        )
        drifted.senders.add(offers_line)
        drifted.programs.add(offers)
        _snapshot(
            drifted,
            offers,
            by,
            use_case="MARKETING",
            description="Acme Outdoor sends in-store offers and new-arrival news to customers "
            "who asked for them, up to 6 messages a month.",
            message_samples=[
                "Acme Outdoor: [first name], 20% off tents this weekend in store. "
                "Reply STOP to opt out",
                "Acme Outdoor: new trail shoes just arrived in store, [first name]. "
                "Reply STOP to opt out",
            ],
            opt_in_keywords=["JOIN"],
        )
        # Registered ten months ago: the offers disclosure has changed since (v2).
        ten_months_ago = timezone.now() - timedelta(days=300)
        drifted.snapshots.update(submitted_at=ten_months_ago, decided_at=ten_months_ago)
        Registration.objects.filter(pk=drifted.pk).update(created_at=ten_months_ago)
    for registration in (clean, drifted):
        program_review_run(registration=registration, trigger=ReviewTrigger.DEMO)
    program_review_run(registration=None, trigger=ReviewTrigger.DEMO)
    return ProgramReview.objects.exists()
