"""`manage.py seed_demo`: a believable business to look around in (idempotent)."""

from __future__ import annotations

import random
from datetime import timedelta

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from campaigns.demo import seed_reports_demo
from campaigns.flow_rules import MONTHLY_REMINDER_EVENT, OPTED_IN_EVENT
from campaigns.flows import flow_validate
from campaigns.models import Audience, Campaign, CampaignVariant, Flow
from campaigns.registrations.demo import seed_registrations
from config.lib.process_cache import clear_all as clear_process_caches
from consent import services
from consent.models import (
    ConsentStatus,
    Contact,
    Disclosure,
    MessageType,
    Program,
    SuppressionReason,
    Tag,
)
from consent.phones import InvalidPhoneNumber, normalize_phone
from consent.roles import COMPLIANCE, MARKETING
from messaging import inbound
from messaging.models import Sender, SenderKind
from messaging.simulate import simulated_params
from templates.models import MessageTemplate, TemplateVersion, VersionStatus

AREA_CODES = {
    "212": ("NY", "10001"), "305": ("FL", "33101"), "312": ("IL", "60601"),
    "415": ("CA", "94103"), "512": ("TX", "73301"), "617": ("MA", "02108"),
    "713": ("TX", "77001"), "206": ("WA", "98101"), "404": ("GA", "30301"),
    "702": ("NV", "89101"), "918": ("OK", "74101"), "410": ("MD", "21201"),
    "860": ("CT", "06101"), "804": ("VA", "23218"), "303": ("CO", "80202"),
}  # fmt: skip
FIRST = [
    "Ava",
    "Ben",
    "Chloe",
    "Diego",
    "Emma",
    "Farah",
    "Gabe",
    "Hana",
    "Ivan",
    "Jada",
    "Kofi",
    "Lena",
    "Mateo",
    "Nora",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
    "Uma",
    "Victor",
    "Wen",
    "Xavi",
    "Yara",
    "Zoe",
]
LAST = [
    "Garcia",
    "Smith",
    "Nguyen",
    "Johnson",
    "Patel",
    "Kim",
    "Brown",
    "Lopez",
    "Davis",
    "Wilson",
    "Chen",
    "Okafor",
    "Rossi",
    "Silva",
    "Cohen",
    "Haddad",
]
# A toll-free number (833): named and registered as what it is.
DEMO_NUMBER = "+18335550100"


def flow_presets(offers: Program, appointments: Program) -> list[dict]:
    """The four flows people start with (the opt-in confirmation comes per program)."""
    return [
        {
            "name": "Website lead welcome",
            "description": "A lead from the website's contact form gets a welcome at once.",
            "trigger": "lead.created",
            "conditions": [{"field": "data.source", "op": "eq", "value": "website"}],
            "program": offers,
            "template": "Lead welcome",
            "category": "promotional",
            "body": "Acme Outdoor: thanks for reaching out, {first_name|there}! See this "
            "season's gear at https://acme.example/new Reply STOP to opt out",
        },
        {
            "name": "Appointment confirmation",
            "description": "Confirms a booking as soon as it is made.",
            "trigger": "appointment.booked",
            "program": appointments,
            "template": "Appointment booked",
            "category": "transactional",
            "body": "Acme Outdoor Service Center: your {event.service|service} appointment is "
            "booked for {event.appointment_at:datetime}. Reply STOP to opt out",
        },
        {
            "name": "Appointment reminder",
            "description": "24 hours before the appointment; skipped when booked later than that.",
            "trigger": "appointment.booked",
            "program": appointments,
            "template": "Appointment tomorrow",
            "category": "reminder",
            "anchor": "appointment_at",
            "offset": timedelta(hours=-24),
            "body": "Acme Outdoor Service Center: reminder, {first_name|your} appointment is "
            "tomorrow at {event.appointment_at:time}. Reply STOP to opt out",
        },
        {
            "name": "Post-purchase follow-up",
            "description": "Three days after delivery, ask how the order went.",
            "trigger": "order.delivered",
            "program": offers,
            "template": "How was your order",
            "category": "follow_up",
            "offset": timedelta(days=3),
            "max_lateness": timedelta(hours=12),
            "body": "Acme Outdoor: how is your new gear, {first_name|there}? Tell us at "
            "https://acme.example/review Reply STOP to opt out",
        },
    ]


def opt_in_confirmation_preset(program: Program, trigger: str) -> dict:
    return {
        "name": f"Opt-in confirmation: {program.name}",
        "description": "The first message after an opt-in through the API or the join form.",
        "trigger": trigger,
        "program": program,
        # One template per program: dropdowns name each one, not "Opt-in confirmation" twice.
        "template": f"Opt-in confirmation: {program.name}",
        "category": "transactional",
        # CTIA's list: brand, enrolled in what, how often, rates, HELP, STOP.
        "body": f"{program.brand_name}: you're in for {program.name}! {program.frequency_text}. "
        "Msg & data rates may apply. Reply HELP for help, STOP to cancel.",
    }


def monthly_reminder_preset(program: Program, trigger: str) -> dict:
    """CTIA: a recurring program reminds its subscribers how to opt out at least monthly."""
    return {
        "name": f"Monthly reminder: {program.name}",
        "description": "Once a month to each subscriber of 30 days or more.",
        "trigger": trigger,
        "program": program,
        "template": "Monthly subscription reminder",
        "category": "transactional",
        "body": f"{program.brand_name}: you're still subscribed to {program.name}. "
        "Msg&data rates may apply. Reply STOP to cancel.",
    }


class Command(BaseCommand):
    help = "Create demo programs, disclosures and ~1,000 contacts with consent histories."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--contacts", type=int, default=1000)
        parser.add_argument("--seed", type=int, default=42)

    def handle(self, *args, contacts: int, seed: int, **options) -> None:
        if Program.objects.filter(slug="offers").exists():
            self.stdout.write("Demo data is already loaded.")
        else:
            rng = random.Random(seed)
            with transaction.atomic():
                offers, appointments = self.create_programs()
                tags = [
                    Tag.objects.create(name=n) for n in ("vip", "newsletter", "wholesale", "lapsed")
                ]
                made = self.create_contacts(rng, contacts, offers, appointments, tags)
                self.create_sending(offers, appointments)
                self.create_conversations()
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo data loaded: 2 programs, {made} contacts, a sender, approved "
                    "templates and a draft campaign."
                )
            )
        # Presets arrive in databases seeded before they existed too, hence outside the guard.
        with transaction.atomic():
            added = self.create_flow_presets()
        if added:
            self.stdout.write(self.style.SUCCESS(f"Flow presets added: {', '.join(added)}."))
        if self.create_registrations():
            self.stdout.write(
                self.style.SUCCESS("Registrations added (one clean, one drifted) and reviewed.")
            )
        if self.create_reports_demo():
            self.stdout.write(
                self.style.SUCCESS(
                    "A two-variant campaign sent (deliveries, failures by error code, replies) "
                    "and appointment flows fired; counters rebuilt for the reports."
                )
            )

    def create_reports_demo(self) -> bool:
        """A sent campaign and flow runs for the reports; the counters rebuilt (see campaigns)."""
        marketer, reviewer = self.staff()
        return seed_reports_demo(marketer=marketer, reviewer=reviewer)

    def create_registrations(self) -> bool:
        """A brand, two 10DLC registrations and a first program review (see campaigns)."""

        _, reviewer = self.staff()
        return seed_registrations(by=reviewer)

    def staff(self):
        """The demo's marketer (writes templates) and compliance reviewer (approves them)."""

        marketer, _ = User.objects.get_or_create(username="marketing", defaults={"is_staff": True})
        marketer.groups.add(Group.objects.get(name=MARKETING))
        reviewer, _ = User.objects.get_or_create(username="compliance", defaults={"is_staff": True})
        reviewer.groups.add(Group.objects.get(name=COMPLIANCE))
        return marketer, reviewer

    def create_flow_presets(self) -> list[str]:
        """The flows people start with, each with an approved template (four eyes); the ones
        already there (by name) are left as they are. Returns the names of the flows added."""
        programs = {p.slug: p for p in Program.objects.filter(slug__in=["offers", "appointments"])}
        offers, appointments = programs.get("offers"), programs.get("appointments")
        if offers is None or appointments is None:
            return []
        marketer, reviewer = self.staff()
        presets = flow_presets(offers, appointments)
        for program in Program.objects.filter(active=True).order_by("pk"):
            presets.append(opt_in_confirmation_preset(program, OPTED_IN_EVENT))
            if program.message_type == MessageType.MARKETING:
                presets.append(monthly_reminder_preset(program, MONTHLY_REMINDER_EVENT))
        added = []
        for preset in presets:
            if Flow.objects.filter(name=preset["name"]).exists():
                continue
            template, _ = MessageTemplate.objects.get_or_create(
                program=preset["program"],
                name=preset["template"],
                defaults={
                    "category": preset["category"],
                    "owner": marketer,
                    "description": f"Sent by the “{preset['name']}” flow.",
                },
            )
            if not template.versions.filter(status=VersionStatus.APPROVED).exists():
                version = TemplateVersion.objects.create(
                    template=template, body=preset["body"], author=marketer
                )
                version.submit(by=marketer)
                version.approve(by=reviewer, note="Demo preset, checked against the 10DLC samples.")
            flow = Flow(
                name=preset["name"],
                description=preset["description"],
                trigger=preset["trigger"],
                conditions=preset.get("conditions", []),
                program=preset["program"],
                template=template,
                anchor=preset.get("anchor", ""),
                offset=preset.get("offset", timedelta(0)),
                max_lateness=preset.get("max_lateness", timedelta(hours=1)),
                created_by=marketer,
            )
            flow.full_clean()
            flow_validate(flow)
            flow.save()
            added.append(flow.name)
        return added

    def create_sending(self, offers: Program, appointments: Program) -> None:
        """A sender, approved templates (written and reviewed by different people), a campaign."""

        marketer, reviewer = self.staff()
        sender = Sender.objects.create(
            name="Acme toll-free", phone_number=DEMO_NUMBER, kind=SenderKind.TOLL_FREE, mps=3
        )
        sender.programs.add(offers, appointments)
        bodies = {
            (offers, "Weekend sale", "promotional"): (
                "Acme Outdoor: {first_name|Hi there}, 20% off tents this weekend at "
                "https://acme.example/sale Reply STOP to opt out"
            ),
            (appointments, "Service reminder", "reminder"): (
                "Acme Outdoor Service Center: hi {first_name|there}, your bike is booked for "
                "{event.appointment_at:datetime}. Reply STOP to opt out"
            ),
        }
        versions = []
        for (program, name, category), body in bodies.items():
            template = MessageTemplate.objects.create(
                name=name, program=program, category=category, owner=marketer
            )
            version = TemplateVersion.objects.create(template=template, body=body, author=marketer)
            version.submit(by=marketer)
            version.approve(by=reviewer, note="Checked against the 10DLC sample messages.")
            versions.append(version)
        TemplateVersion.objects.create(
            template=versions[0].template,
            author=marketer,
            body="Acme Outdoor: {first_name|Hi there}, 25% off tents until Sunday at "
            "https://acme.example/sale Reply STOP to opt out",
        ).submit(by=marketer)  # waits in the review queue
        audience = Audience.objects.create(
            name="Gold members",
            description="Loyalty tier gold, opted in to offers",
            filters={"attributes": {"loyalty_tier": "gold"}, "consent": {"program": "offers"}},
            created_by=marketer,
        )
        campaign = Campaign.objects.create(
            name="Weekend tent sale", program=offers, audience=audience, created_by=marketer
        )
        campaign.senders.add(sender)
        CampaignVariant.objects.create(campaign=campaign, label="A", template_version=versions[0])

    def create_conversations(self) -> None:
        """A few people who texted the short code, through the real inbound path (marked as
        simulated): questions waiting in the support queue, one "not interested" waiting for
        compliance's review, one asking for an agent."""
        sender = Sender.objects.get(phone_number=DEMO_NUMBER)
        clear_process_caches()  # the senders just made must be seen at once
        people = list(
            Contact.objects.filter(
                consent_states__status=ConsentStatus.OPTED_IN, phone__isnull=False
            )
            .exclude(first_name="")
            .distinct()
            .order_by("pk")[:4]
        )
        texts = [
            "Hi, do you still have the 4-person tent in green?",
            "What time do you open on Saturday?",
            "not interested anymore",
            "AGENT",
        ]
        now = timezone.now()
        for minutes, (contact, text) in enumerate(zip(people, texts, strict=False)):
            params = simulated_params(contact=contact, sender=sender, body=text, by="seed_demo")
            inbound.inbound_receive(
                params=params, received_at=now - timedelta(minutes=90 - 20 * minutes)
            )

    def create_programs(self) -> tuple[Program, Program]:
        now = timezone.now()
        offers = Program.objects.create(
            slug="offers",
            name="Acme Offers",
            brand_name="Acme Outdoor",
            message_type=MessageType.MARKETING,
            frequency_text="Up to 6 msgs/mo",
            double_opt_in=True,
            join_keywords=["JOIN", "DEALS"],
            help_text="Acme Outdoor Offers: help at acme.example/help or 1-800-555-0199. "
            "Up to 6 msgs/mo. Msg & data rates may apply. Reply STOP to cancel.",
            opt_in_confirmation_text="Acme Outdoor Offers: you're in! Up to 6 msgs/mo. "
            "Msg & data rates may apply. Reply HELP for help, STOP to cancel.",
            double_opt_in_request_text="Acme Outdoor: reply YES to confirm you want offers by "
            "text (up to 6 msgs/mo). Msg & data rates may apply. Reply STOP to cancel.",
            opt_out_confirmation_text="Acme Outdoor: you're unsubscribed from Offers and will "
            "receive no more messages.",
            link_tracking=True,
            link_utm=True,
        )
        appointments = Program.objects.create(
            slug="appointments",
            name="Appointment reminders",
            brand_name="Acme Outdoor Service Center",
            message_type=MessageType.TRANSACTIONAL,
            frequency_text="Msg frequency varies",
            join_keywords=["REMIND"],
            help_text="Acme Service Center reminders: call 1-800-555-0199 or visit "
            "acme.example/service. Reply STOP to cancel.",
            opt_in_confirmation_text="Acme Service Center: you'll get appointment reminders. "
            "Msg frequency varies. Msg & data rates may apply. "
            "Reply HELP for help, STOP to cancel.",
            opt_out_confirmation_text="Acme Service Center: you will receive no more reminders.",
        )
        Disclosure.objects.create(
            program=offers,
            version=1,
            effective_at=now - timedelta(days=720),
            page_url="https://acme.example/join/offers",
            text="By checking this box, I agree to receive recurring automated marketing texts "
            "from Acme Outdoor at the number provided. Consent is not a condition of purchase. "
            "Up to 6 msgs/mo. Msg & data rates may apply. Reply HELP for help, STOP to cancel.",
        )
        Disclosure.objects.create(
            program=offers,
            version=2,
            effective_at=now - timedelta(days=200),
            page_url="https://acme.example/join/offers",
            text="Yes, text me offers! I agree to receive recurring automated marketing texts "
            "(up to 6/mo) from Acme Outdoor at this number. Consent is not a condition of "
            "purchase. Msg & data rates may apply. Reply HELP for help, STOP to cancel. "
            "Privacy: acme.example/privacy",
        )
        Disclosure.objects.create(
            program=appointments,
            version=1,
            effective_at=now - timedelta(days=720),
            page_url="https://acme.example/service/book",
            text="Text me reminders about my service appointments. Msg frequency varies. "
            "Msg & data rates may apply. Reply STOP to cancel.",
        )
        return offers, appointments

    def create_contacts(self, rng, count, offers, appointments, tags) -> int:
        now = timezone.now()
        made = 0
        seen: set[str] = set()
        while made < count:
            area = rng.choice(list(AREA_CODES))
            raw = f"{area}{rng.randint(201, 989)}{rng.randint(0, 9999):04d}"
            try:
                phone = normalize_phone(raw)
            except InvalidPhoneNumber:
                continue
            if phone in seen:
                continue
            seen.add(phone)
            state, zip_code = AREA_CODES[area]
            first, last = rng.choice(FIRST), rng.choice(LAST)
            contact = Contact.objects.create(
                phone=phone,
                first_name=first,
                last_name=last,
                email=f"{first}.{last}{made}@example.com".lower() if rng.random() < 0.7 else "",
                state=state,
                postal_code=zip_code,
                locale="es" if rng.random() < 0.12 else "en",
                attributes={
                    "loyalty_tier": rng.choice(["bronze", "silver", "gold"]),
                    "favorite_store": rng.choice(["Downtown", "Airport", "Eastside"]),
                },
            )
            contact.tags.set(rng.sample(tags, rng.randint(0, 2)))
            self.give_history(rng, contact, offers, appointments, now)
            made += 1
        return made

    def give_history(self, rng, contact, offers, appointments, now) -> None:
        joined = now - timedelta(days=rng.randint(1, 700), minutes=rng.randint(0, 1440))
        method, source, evidence = rng.choice(
            [
                ("web_form", "https://acme.example/join/offers",
                 {"ip": f"198.51.100.{rng.randint(1, 254)}", "user_agent": "Mozilla/5.0 (iPhone)"}),
                ("keyword", f"JOIN to {DEMO_NUMBER}", {"raw_text": "JOIN"}),
                ("checkbox", "https://acme.example/checkout", {"ip": "203.0.113.40"}),
                ("paper", "Downtown store sign-up sheet 2025-03", {"scan": "sheet-031.pdf"}),
                ("import", "legacy-crm-2024.csv row 118", {}),
                ("api", "api: shopify-sync", {}),
            ]
        )  # fmt: skip
        if rng.random() < 0.85:
            confirmed = method == "keyword" or rng.random() < 0.9
            services.consent_opt_in(
                contact=contact, program=offers, method=method, source=source,
                occurred_at=joined, evidence=evidence, confirmed=method == "keyword",
            )  # fmt: skip
            if confirmed and method != "keyword":
                services.consent_confirm(
                    contact=contact, program=offers, method="keyword",
                    source=f"YES to {DEMO_NUMBER}", occurred_at=joined + timedelta(minutes=3),
                    evidence={"raw_text": "YES"},
                )  # fmt: skip
        if rng.random() < 0.45:
            services.consent_opt_in(
                contact=contact, program=appointments, method="web_form",
                source="https://acme.example/service/book", occurred_at=joined,
                evidence={"ip": "198.51.100.77", "user_agent": "Mozilla/5.0"},
            )  # fmt: skip
        roll = rng.random()
        later = joined + timedelta(days=rng.randint(1, 120))
        later = min(later, now - timedelta(minutes=5))
        if roll < 0.08:
            services.consent_revoke(
                contact=contact, programs=[offers], method="keyword",
                source=f"STOP to {DEMO_NUMBER}", occurred_at=later,
                evidence={"raw_text": rng.choice(["STOP", "stop", "Stop please", "unsubscribe"])},
            )  # fmt: skip
        elif roll < 0.10:
            services.consent_revoke(
                contact=contact, revoke_all=True, method="keyword",
                source=f"STOPALL to {DEMO_NUMBER}", occurred_at=later,
                evidence={"raw_text": "STOPALL"},
            )  # fmt: skip
        elif roll < 0.11:
            services.consent_revoke(
                contact=contact, revoke_all=True, method="carrier",
                source="twilio error 21610", occurred_at=later,
                evidence={"error_code": 21610}, suppression_reason=SuppressionReason.CARRIER_21610,
            )  # fmt: skip
        elif roll < 0.12:
            services.suppression_add(
                phone=contact.phone, reason=SuppressionReason.LANDLINE,
                created_by_label="lookup", evidence={"line_type": "landline"},
            )  # fmt: skip
