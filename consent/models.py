"""Who may be messaged, and the proof.

The consent ledger (`ConsentEvent`) is append-only: every opt-in, confirmation and opt-out is a
row that is never updated or deleted (model, queryset, admin and, on PostgreSQL, a trigger all
refuse). `ConsentState` is the current state per contact and program, derived from the ledger
and written in the same transaction as each event by `consent.services`. Nothing else writes it.
"""

from __future__ import annotations

import hashlib
import zoneinfo
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Length
from django.db.models.lookups import Exact
from django.utils import timezone

from . import ledger_hash, sql
from .phones import phone_hash


class LedgerImmutableError(Exception):
    """Raised on any attempt to change or delete a consent ledger row."""


class MessageType(models.TextChoices):
    MARKETING = "marketing", "Marketing"
    TRANSACTIONAL = "transactional", "Transactional / informational"
    CUSTOMER_CARE = "customer_care", "Customer care"


class Tag(models.Model):
    name = models.SlugField(max_length=64, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def _validate_time_zone(value: str) -> None:
    if value and value not in zoneinfo.available_timezones():
        raise ValidationError(f"“{value}” is not a known time zone (e.g. America/Chicago).")


class FrequencyPreference(models.TextChoices):
    ANY = "any", "Every message"
    WEEKLY = "weekly", "At most one marketing message a week"
    MONTHLY = "monthly", "At most one marketing message a month"


class Channel(models.TextChoices):
    SMS = "sms", "SMS"
    EMAIL = "email", "E-mail"


class ContactQuerySet(models.QuerySet):
    def eligible_for(
        self, program: Program, message_type: str | None = None, at: datetime | None = None
    ) -> ContactQuerySet:
        """Contacts the gate would let `program` send a `message_type` message to at `at`
        (default now), as one set-based query: a number, an opt-in, no suppression in force.
        tests/consent/test_can_message.py holds it to `consent.selectors.can_message`."""
        if not program.active or not program.covers(message_type or program.message_type):
            return self.none()
        consented = ConsentState.objects.filter(
            contact=OuterRef("pk"), program=program, status=ConsentStatus.OPTED_IN
        )
        suppressed = Suppression.objects.suppressing(OuterRef("phone_hash"), program, at)
        return (
            self.filter(phone__isnull=False).filter(Exists(consented)).exclude(Exists(suppressed))
        )


class Contact(models.Model):
    """A person we may text, keyed by their number in E.164.

    After an erasure request the personal fields are blanked and `phone` is cleared; the
    consent ledger keeps its own copy of the number (a legal record), and a suppression keyed
    by `phone_hash` keeps the number from ever being messaged again.
    """

    phone = models.CharField(max_length=16, unique=True, null=True, blank=True)
    phone_hash = models.CharField(max_length=64, db_index=True, editable=False)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(blank=True)
    locale = models.CharField(max_length=16, default="en", help_text="e.g. en, es, en-US")
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[_validate_time_zone],
        help_text="Overrides the time zone derived from the address and area code.",
    )
    state = models.CharField("state", max_length=2, blank=True, help_text="US postal code, e.g. FL")
    postal_code = models.CharField(max_length=10, blank=True)
    country = models.CharField(max_length=2, default="US")
    attributes = models.JSONField(default=dict, blank=True)
    frequency_preference = models.CharField(
        max_length=10,
        choices=FrequencyPreference.choices,
        default=FrequencyPreference.ANY,
        db_default=FrequencyPreference.ANY,  # raw SQL inserts (bench, bulk loads) need none
        help_text="Chosen by the person in the preference centre.",
    )
    preferred_channel = models.CharField(
        max_length=10, choices=Channel.choices, default=Channel.SMS, db_default=Channel.SMS
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="contacts")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["created_at"]), models.Index(fields=["state"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(phone__isnull=False) | Q(erased_at__isnull=False),
                name="contact_phone_unless_erased",
            ),
        ]
        permissions = [("erase_contact", "Can erase a contact's personal data (privacy request)")]

    def __str__(self) -> str:
        if self.erased_at:
            return f"Erased contact #{self.pk}"
        name = self.full_name
        return f"{name} ({self.phone})" if name else str(self.phone)

    def save(self, *args, **kwargs) -> None:
        if self.phone:
            self.phone_hash = phone_hash(self.phone)
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "phone_hash"}
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Program(models.Model):
    """What a person subscribes to ("Acme deals", "Appointment reminders").

    Consent never carries from one program to another (CTIA): every ledger event names one.
    """

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    brand_name = models.CharField(max_length=120)
    message_type = models.CharField(
        max_length=20, choices=MessageType.choices, default=MessageType.MARKETING
    )
    frequency_text = models.CharField(
        max_length=120, default="Msg frequency varies", help_text="e.g. “Up to 4 msgs/mo”"
    )
    help_text = models.TextField(
        "HELP reply", help_text="Brand, support contact and how to opt out (sent to anyone)."
    )
    opt_in_confirmation_text = models.TextField(
        help_text="First message: program, frequency, “Msg & data rates may apply”, HELP, STOP."
    )
    opt_out_confirmation_text = models.TextField(
        help_text="One message naming the brand, confirming no more messages. No marketing."
    )
    double_opt_in_request_text = models.TextField(
        blank=True, help_text="Asks to reply YES to confirm (double opt-in programs)."
    )
    join_keywords = models.JSONField(
        default=list, blank=True, help_text='Words that opt a texter in, e.g. ["JOIN", "DEALS"].'
    )
    double_opt_in = models.BooleanField(
        default=False, help_text="An opt-in stays pending until the person replies YES."
    )
    quiet_hours_exempt = models.BooleanField(
        default=False,
        help_text="Transactional programs only: may send outside quiet hours where the law "
        "exempts them. Marketing never is.",
    )
    link_tracking = models.BooleanField(
        default=False,
        help_text="Replace each link to an allowed link domain with a short link on the branded "
        "link domain, one per recipient, and count its clicks.",
    )
    link_utm = models.BooleanField(
        "UTM parameters",
        default=False,
        help_text="Tracked links add utm_source, utm_medium and utm_campaign on the way through.",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(message_type="marketing", quiet_hours_exempt=True),
                name="marketing_never_quiet_hours_exempt",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def covers(self, message_type: str) -> bool:
        """Whether this program's consent covers `message_type` messages.

        Customer care (answering someone's own message) needs no opt-in, only no opt-out; a
        marketing consent also covers informational messages of the same program, never the
        reverse (docs/rules.md#consent-and-eligibility).
        """
        if message_type == MessageType.CUSTOMER_CARE:
            return True
        if message_type == MessageType.TRANSACTIONAL:
            return self.message_type in (MessageType.TRANSACTIONAL, MessageType.MARKETING)
        return self.message_type == message_type

    def clean(self) -> None:
        keywords = self.join_keywords or []
        if not isinstance(keywords, list) or not all(
            isinstance(k, str) and k.strip().isalnum() for k in keywords
        ):
            raise ValidationError({"join_keywords": 'A list of single words, e.g. ["JOIN"].'})
        self.join_keywords = [k.strip().upper() for k in keywords]

    def current_disclosure(self, at=None) -> Disclosure | None:
        """The disclosure in effect at `at` (default now): the latest one already effective."""
        at = at or timezone.now()
        return (
            self.disclosures.filter(effective_at__lte=at)
            .order_by("-effective_at", "-version")
            .first()
        )


def disclosure_text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Disclosure(models.Model):
    """The exact text shown at opt-in for a program, versioned.

    Immutable once any consent event references it: a change is a new version. Each event
    stores the hash of the text it was given under, so the record proves what was shown.
    """

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="disclosures")
    version = models.PositiveIntegerField()
    text = models.TextField()
    text_hash = models.CharField(max_length=64, editable=False)
    effective_at = models.DateTimeField(default=timezone.now)
    page_url = models.URLField(blank=True, help_text="Where the form showing it lives.")
    screenshot = models.FileField(upload_to="disclosures/", blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["program", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["program", "version"], name="disclosure_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.program} disclosure v{self.version}"

    def save(self, *args, **kwargs) -> None:
        if self.is_referenced:
            stored = Disclosure.objects.get(pk=self.pk)
            if (stored.text, stored.version, stored.program_id) != (
                self.text,
                self.version,
                self.program_id,
            ):
                raise LedgerImmutableError(
                    f"{stored} is referenced by consent records and cannot change; "
                    "add a new version instead."
                )
        self.text_hash = disclosure_text_hash(self.text)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.is_referenced:
            raise LedgerImmutableError(f"{self} is referenced by consent records.")
        return super().delete(*args, **kwargs)

    @property
    def is_referenced(self) -> bool:
        return self.pk is not None and ConsentEvent.objects.filter(disclosure=self).exists()


class ConsentStatus(models.TextChoices):
    OPTED_IN = "opted_in", "Opted in"
    PENDING = "pending", "Pending confirmation"
    OPTED_OUT = "opted_out", "Opted out"


class ConsentKind(models.TextChoices):
    OPT_IN = "opt_in", "Opt-in"
    OPT_IN_CONFIRMED = "opt_in_confirmed", "Opt-in confirmed"
    OPT_OUT = "opt_out", "Opt-out"
    RE_OPT_IN = "re_opt_in", "Re-opt-in"
    PREFERENCE = "preference", "Preference change"


class ConsentMethod(models.TextChoices):
    WEB_FORM = "web_form", "Web form"
    KEYWORD = "keyword", "Keyword"
    CHECKBOX = "checkbox", "Checkbox"
    PAPER = "paper", "Paper / letter"
    VERBAL = "verbal", "Verbal"
    EMAIL = "email", "E-mail"
    IMPORT = "import", "Import"
    API = "api", "API"
    PREFERENCE_CENTRE = "preference_centre", "Preference centre"
    CARRIER = "carrier", "Carrier"
    AGENT = "agent", "Agent"


class LedgerQuerySet(models.QuerySet):
    """A queryset that can read and insert, never rewrite or remove."""

    def update(self, **kwargs):
        raise LedgerImmutableError("Consent events are append-only; they cannot be updated.")

    def delete(self):
        raise LedgerImmutableError("Consent events are append-only; they cannot be deleted.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise LedgerImmutableError("Consent events are append-only; they cannot be updated.")

    def update_or_create(self, *args, **kwargs):
        raise LedgerImmutableError("Consent events are append-only; use consent.services.")

    def bulk_create(self, objs, *args, **kwargs):
        """Insert new events, each linked into its contact's hash chain first."""
        objs = list(objs)
        link_chains([event for event in objs if not event.chain_hash])
        return super().bulk_create(objs, *args, **kwargs)


class ConsentEvent(models.Model):
    """One entry of the append-only consent ledger.

    Kinds and the state each leaves behind::

        opt_in            -> opted_in (or pending, for a double opt-in program until confirmed)
        opt_in_confirmed  -> opted_in (the YES reply of a double opt-in)
        opt_out           -> opted_out
        re_opt_in         -> opted_in (or pending), after an earlier opt-out
        preference        -> unchanged (frequency or channel chosen in the preference centre;
                             the state keeps pointing at the event that set its status)

    `occurred_at` is when the person acted; `recorded_at` when we wrote it down. The state of a
    contact and program is that of its event with the latest (occurred_at, id).
    """

    Kind = ConsentKind
    Method = ConsentMethod

    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="consent_events")
    phone = models.CharField(max_length=16, help_text="The number, in E.164, when it happened.")
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="consent_events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    resulting_status = models.CharField(max_length=12, choices=ConsentStatus.choices)
    method = models.CharField(max_length=20, choices=Method.choices)
    source = models.CharField(
        max_length=500, help_text="Form URL, keyword + number, import file + row, API client."
    )
    disclosure = models.ForeignKey(
        Disclosure, on_delete=models.PROTECT, null=True, blank=True, related_name="consent_events"
    )
    disclosure_hash = models.CharField(max_length=64, blank=True)
    occurred_at = models.DateTimeField(help_text="When the person acted.")
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    recorded_by_label = models.CharField(
        max_length=200, blank=True, help_text="API client, webhook or job that recorded it."
    )
    evidence = models.JSONField(
        default=dict,
        blank=True,
        help_text="IP, user agent, raw inbound text, provider message id, form fields.",
    )
    note = models.TextField(blank=True)
    idempotency_key = models.CharField(max_length=64, unique=True, null=True, blank=True)
    chain_seq = models.PositiveIntegerField(
        editable=False, help_text="Place in the contact's hash chain: 1, 2, 3 ..."
    )
    prev_hash = models.CharField(
        max_length=64, blank=True, editable=False, help_text="The previous event's chain hash."
    )
    chain_hash = models.CharField(
        max_length=64,
        editable=False,
        help_text="SHA-256 of this event's recorded content, its place and the previous hash.",
    )

    objects = LedgerQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["contact", "program", "occurred_at"]),
            models.Index(fields=["program", "kind", "occurred_at"]),
            models.Index(fields=["kind", "occurred_at"]),
            models.Index(fields=["occurred_at"]),
            models.Index(fields=["recorded_at"]),
            models.Index(fields=["phone"]),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(source=""), name="consent_event_has_source"),
            models.CheckConstraint(
                condition=Q(kind__in=ConsentKind.values), name="consent_event_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(method__in=ConsentMethod.values), name="consent_event_method_valid"
            ),
            models.CheckConstraint(
                condition=Q(resulting_status__in=ConsentStatus.values),
                name="consent_event_status_valid",
            ),
            # One event per place in a contact's chain: two writers that skipped the contact's
            # lock cannot fork it.
            models.UniqueConstraint(
                fields=["contact", "chain_seq"], name="consent_event_chain_seq"
            ),
            models.CheckConstraint(
                condition=Q(Exact(Length("chain_hash"), 64))
                & (
                    Q(chain_seq=1, prev_hash="")
                    | Q(Q(chain_seq__gt=1), Exact(Length("prev_hash"), 64))
                ),
                name="consent_event_chained",
            ),
        ]
        permissions = [
            ("export_consent", "Can export consent records, the opt-out log and suppressions"),
            ("import_consent", "Can import contacts with their consent"),
            ("record_opt_out", "Can record an opt-out on someone's behalf"),
        ]

    def __str__(self) -> str:
        when = f"{self.occurred_at:%Y-%m-%d %H:%M}"
        return f"{self.get_kind_display()} · {self.phone} · {self.program} · {when}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise LedgerImmutableError("Consent events are append-only; they cannot be changed.")
        if not self.chain_hash:
            link_chains([self])
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise LedgerImmutableError("Consent events are append-only; they cannot be deleted.")

    def chain_content(self) -> dict:
        """What the chain hash covers: every recorded field, as stored (`consent.ledger_hash`)."""
        return {name: getattr(self, name) for name in ledger_hash.HASHED_FIELDS}


def link_chains(events: list[ConsentEvent]) -> list[ConsentEvent]:
    """Give each new event its place in its contact's hash chain (`chain_seq`, `prev_hash`,
    `chain_hash`), in list order, after the chain's current head (one query for all contacts).

    The caller holds each contact's lock (`consent.services` does), so the heads read here stay
    the heads until the events are inserted; the unique (contact, chain_seq) refuses a fork.
    """
    heads = chain_heads({event.contact_id for event in events})
    for event in events:
        seq, previous = heads.get(event.contact_id, (0, ""))
        event.chain_seq, event.prev_hash = seq + 1, previous
        event.chain_hash = ledger_hash.event_hash(event.chain_content())
        heads[event.contact_id] = (event.chain_seq, event.chain_hash)
    return events


def chain_heads(contact_ids: set[int]) -> dict[int, tuple[int, str]]:
    """contact id -> (chain_seq, chain_hash) of its latest event; absent: no event yet."""
    if not contact_ids:
        return {}
    if len(contact_ids) == 1:  # a STOP: one index probe, backwards on (contact, chain_seq)
        [contact_id] = contact_ids
        with connection.cursor() as cursor:
            cursor.execute(sql.chain_head_sql(), [contact_id])
            row = cursor.fetchone()
        return {contact_id: (row[0], row[1])} if row else {}
    events = ConsentEvent.objects.order_by()
    latest = (
        events.filter(contact_id__in=contact_ids)
        .values("contact_id")
        .annotate(seq=models.Max("chain_seq"))
        .values("seq")
    )
    heads = events.filter(contact_id__in=contact_ids, chain_seq__in=latest).values_list(
        "contact_id", "chain_seq", "chain_hash"
    )
    found: dict[int, tuple[int, str]] = {}
    for contact_id, seq, digest in heads:
        if seq > found.get(contact_id, (0, ""))[0]:
            found[contact_id] = (seq, digest)
    return found


class ConsentConfirmation(models.Model):
    """The one confirmation text sent for an opt-out (or opt-in), recorded beside the ledger."""

    event = models.OneToOneField(
        ConsentEvent, on_delete=models.PROTECT, related_name="confirmation"
    )
    sent_at = models.DateTimeField(default=timezone.now)
    message_ref = models.CharField(
        max_length=64, blank=True, help_text="Provider message id or our outbound message id."
    )

    def __str__(self) -> str:
        return f"Confirmation of event #{self.event_id}"


class StateQuerySet(models.QuerySet):
    """Reads only: a state changes with the ledger event it derives from, in `consent.services`."""

    def update(self, **kwargs):
        raise LedgerImmutableError("A consent state changes only with a new ledger event.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise LedgerImmutableError("A consent state changes only with a new ledger event.")

    def update_or_create(self, *args, **kwargs):
        raise LedgerImmutableError("A consent state changes only with a new ledger event.")


class ConsentState(models.Model):
    """Current consent of one contact for one program, derived from the ledger.

    Written only by `consent.services`, in the same transaction as the event it reflects:
    `last_event` is that event (the contact's latest for the program that sets a status), and
    `status` and `since` are its resulting status and time. On PostgreSQL a trigger refuses a
    state that does not follow from its event; `manage.py consent_verify` recomputes every state
    from the ledger.
    """

    Status = ConsentStatus

    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="consent_states")
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="consent_states")
    status = models.CharField(max_length=12, choices=ConsentStatus.choices)
    last_event = models.ForeignKey(ConsentEvent, on_delete=models.PROTECT, related_name="+")
    since = models.DateTimeField(help_text="When the last event occurred.")
    opted_in_at = models.DateTimeField(null=True, blank=True)
    opted_out_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = StateQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "program"], name="consent_state_unique"),
            models.CheckConstraint(
                condition=Q(status__in=ConsentStatus.values),
                name="consent_state_status_valid",
            ),
            # What the writer's upsert always leaves: an opted-in state knows since when, an
            # opted-out one was opted out by its own event.
            models.CheckConstraint(
                condition=~Q(status=ConsentStatus.OPTED_IN)
                | Q(opted_in_at__isnull=False, opted_in_at__lte=F("since")),
                name="consent_state_opted_in_has_start",
            ),
            models.CheckConstraint(
                condition=~Q(status=ConsentStatus.OPTED_OUT) | Q(opted_out_at=F("since")),
                name="consent_state_opted_out_at_its_event",
            ),
        ]
        indexes = [models.Index(fields=["program", "status"])]

    def __str__(self) -> str:
        return f"{self.contact} · {self.program}: {self.get_status_display()}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise LedgerImmutableError("A consent state changes only with a new ledger event.")
        super().save(*args, **kwargs)


class SuppressionReason(models.TextChoices):
    OPT_OUT_ALL = "opt_out_all", "Opted out of everything"
    CARRIER_21610 = "carrier_21610", "Carrier block (error 21610)"
    REASSIGNED = "reassigned", "Number reassigned"
    INVALID = "invalid", "Invalid number"
    LANDLINE = "landline", "Landline / not mobile"
    LEGAL_REQUEST = "legal_request", "Legal or privacy request"
    COMPLAINT = "complaint", "Complaint"
    MANUAL = "manual", "Manual"


#: What lifting a suppression writes, once; and what erasing the number blanks.
SUPPRESSION_LIFT_FIELDS = frozenset({"lifted_at", "lifted_by", "lifted_by_id", "lift_note"})


class SuppressionQuerySet(models.QuerySet):
    """Reads, inserts, and the two changes a suppression may undergo: being lifted once
    (`suppression_lift`) and losing its number to an erasure (`contact_erase`).

    The suppression rule is written here once: `suppressing` (and its parts `in_force`,
    `covering`). Every reader uses it; the gate's SQL (`consent.sql.suppressed_sql`) is held
    equal to it by tests/consent/test_sql_statements.py.
    """

    def unlifted(self) -> SuppressionQuerySet:
        """Entries nobody has lifted yet (the one state a lift may leave)."""
        return self.filter(lifted_at__isnull=True)

    def in_force(self, at: datetime | None = None) -> SuppressionQuerySet:
        """Entries suppressing at `at` (default now): made by then and not lifted by then."""
        at = at or timezone.now()
        return self.filter(Q(lifted_at__isnull=True) | Q(lifted_at__gt=at), created_at__lte=at)

    def covering(self, program: Program | int | None) -> SuppressionQuerySet:
        """Entries that apply to `program`: those for every program and those for it.
        `None` (or an outer reference) asks about every program only."""
        if program is None:
            return self.filter(program__isnull=True)
        return self.filter(Q(program__isnull=True) | Q(program=program))

    def suppressing(
        self, hashed: str | models.Expression, program: Program | None, at: datetime | None = None
    ) -> SuppressionQuerySet:
        """Is the number with hash `hashed` suppressed for `program` (None: for every program)
        at `at`? Non-empty when it is. `hashed` may be an `OuterRef` for set-based reads."""
        return self.in_force(at).covering(program).filter(phone_hash=hashed)

    def update(self, **kwargs):
        if kwargs and set(kwargs) <= SUPPRESSION_LIFT_FIELDS and kwargs.get("lifted_at"):
            # Only active ones: a lift is written once.
            return models.QuerySet.update(self.unlifted(), **kwargs)
        if kwargs == {"phone": None}:
            return super().update(**kwargs)
        raise LedgerImmutableError(
            "A suppression is never rewritten: it can only be lifted (or lose an erased number)."
        )

    def delete(self):
        raise LedgerImmutableError("Suppressions are never deleted; lift one instead.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise LedgerImmutableError("A suppression is never rewritten; lift one instead.")

    def update_or_create(self, *args, **kwargs):
        raise LedgerImmutableError("A suppression is never rewritten; use consent.services.")


class Suppression(models.Model):
    """A number we must not message: for all programs (`program` empty) or one.

    Keyed by the keyed hash of the number, so it outlives the contact and even its erasure.
    Entries are never deleted or rewritten: ``active --lift--> lifted`` (with who, when and
    why) is the one change, and an erasure blanks `phone` (the hash stays). The model, its
    queryset and, on PostgreSQL, a trigger refuse anything else.
    """

    Reason = SuppressionReason

    phone = models.CharField(max_length=16, null=True, blank=True, db_index=True)
    phone_hash = models.CharField(max_length=64, editable=False)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    program = models.ForeignKey(
        Program,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="suppressions",
        help_text="Empty: every program.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_by_label = models.CharField(max_length=200, blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    lift_note = models.TextField(blank=True)

    objects = SuppressionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Plain, not partial: the gate asks "active at a moment" (lifted_at null or later),
            # which a partial index on lifted_at IS NULL cannot serve (a seq scan, 3 ms).
            models.Index(fields=["phone_hash"], name="suppression_phone_hash"),
            models.Index(fields=["created_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(reason__in=SuppressionReason.values), name="suppression_reason_valid"
            ),
            models.CheckConstraint(
                condition=Q(lifted_at__isnull=True, lifted_by__isnull=True, lift_note="")
                | (Q(lifted_at__isnull=False) & ~Q(lift_note="")),
                name="suppression_lifted_with_a_reason",
            ),
        ]

    def __str__(self) -> str:
        scope = self.program or "all programs"
        return f"{self.phone or 'erased number'} · {self.get_reason_display()} · {scope}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise LedgerImmutableError("A suppression is never rewritten; lift one instead.")
        if self.phone:
            self.phone_hash = phone_hash(self.phone)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise LedgerImmutableError("Suppressions are never deleted; lift one instead.")

    @property
    def is_active(self) -> bool:
        return self.lifted_at is None


class RootQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise LedgerImmutableError("Published ledger roots are never changed.")

    def delete(self):
        raise LedgerImmutableError("Published ledger roots are never deleted.")


class LedgerRoot(models.Model):
    """The daily root over every contact's hash chain (`consent.ledger_chain.root_publish`).

    Covers, for each contact, its chain up to the last event recorded before `cutoff` (the end
    of `date`, UTC); `root_hash` is computed over the previous root and every such chain head,
    so roots are chained too. An operator keeps the root file elsewhere: `manage.py
    ledger_verify --root FILE` then proves nothing recorded before the cutoff changed since.
    """

    date = models.DateField(unique=True)
    cutoff = models.DateTimeField(help_text="Covers events recorded before this moment.")
    previous_hash = models.CharField(max_length=64, blank=True)
    root_hash = models.CharField(max_length=64)
    chains = models.PositiveIntegerField(help_text="Contacts with at least one event covered.")
    events = models.PositiveBigIntegerField(help_text="Events covered.")
    created_at = models.DateTimeField(default=timezone.now)

    objects = RootQuerySet.as_manager()

    class Meta:
        ordering = ["-date"]

    def __str__(self) -> str:
        return f"Ledger root {self.date}: {self.root_hash[:12]}… ({self.events} events)"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise LedgerImmutableError("Published ledger roots are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise LedgerImmutableError("Published ledger roots are never deleted.")


from .import_jobs import ImportJob, ImportRejectedRow, ImportStatus  # noqa: E402, F401
from .staff_preferences import StaffPreference  # noqa: E402, F401
