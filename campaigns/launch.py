"""What launching a campaign will do, shown before the marketer confirms (`launch_summary`).

Contract: nothing here decides eligibility. Recipients and exclusion reasons come from fan-out's
own SELECT and verdict (`fanout.fanout_queryset`, `campaigns.sql`), grouped instead of inserted,
over at most `SAMPLE_LIMIT` audience rows (a bigger audience is scaled from PostgreSQL's row
estimate and said "about"). Segments are the worst case with every token at its longest
plausible value (`CheckConfig.token_max_lengths`); cost is segments times
`settings.SMS_PRICE_PER_SEGMENT`. Quiet hours are forecast for up to `QUIET_SAMPLE` eligible
recipients with the policy dispatch applies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import connection

from consent.models import Contact
from messaging import links, sending_rules
from messaging.holds import local_send_at, rulebook
from messaging.models import BlockReason
from templates.encoding import analyze
from templates.links import shortened_for_count

from . import sql
from .audiences import AudienceFilterError, audience_contacts
from .fanout import FanoutError, campaign_start, fanout_queryset
from .models import Campaign, ScheduleKind
from .services import launch_problems

#: Audience rows the summary reads at most (the fan-out's SELECT with its verdict): about
#: 35 µs a row on PostgreSQL, so the launch step stays well under a second at any size.
SAMPLE_LIMIT = 5_000
#: Eligible recipients whose quiet hours are forecast one by one.
QUIET_SAMPLE = 200
#: A character outside GSM-7, for the "a value forces UCS-2" bound.
NON_GSM_FILLER = "ç"


@dataclass(frozen=True)
class VariantForecast:
    label: str
    version: str
    weight: int
    characters: int
    encoding: str
    segments: int
    segments_ucs2: int  # if one token value carries a character outside GSM-7
    has_tokens: bool


@dataclass
class LaunchSummary:
    campaign: Campaign
    problems: list[str]
    read: int = 0  # audience rows read
    exact: bool = True  # False: scaled from an estimate (or a lower bound)
    estimated_audience: int | None = None
    eligible: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    variants: list[VariantForecast] = field(default_factory=list)
    segments_per_message: float = 0.0
    segments_per_message_ucs2: float = 0.0
    total_segments: int = 0
    total_segments_ucs2: int = 0
    price_per_segment: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    cost_ucs2: Decimal = Decimal(0)
    currency: str = "USD"
    start: datetime | None = None
    window: tuple[datetime, datetime] | None = None  # first and last local send times
    quiet_sampled: int = 0
    quiet_held: int = 0
    quiet_until: tuple[datetime, datetime] | None = None
    quiet_by_zone: dict[str, int] = field(default_factory=dict)
    quiet_rules: list[str] = field(default_factory=list)

    @property
    def excluded_rows(self) -> list[tuple[str, str, int]]:
        """(reason, its label, count), most first."""
        labels = dict(BlockReason.choices)
        return [
            (reason, labels.get(reason, reason), n)
            for reason, n in sorted(self.excluded.items(), key=lambda r: -r[1])
        ]

    @property
    def excluded_total(self) -> int:
        return sum(self.excluded.values())


def _verdicts(campaign: Campaign) -> tuple[dict[str, int], int, list[int]]:
    """(audience rows by the fan-out's verdict ("" = eligible), rows read, the first
    QUIET_SAMPLE eligible contact ids), over the first SAMPLE_LIMIT + 1 rows: one query."""
    select = (fanout_queryset(campaign).order_by("id").values_list("id", *sql.VERDICT_COLUMNS))[
        : SAMPLE_LIMIT + 1
    ]
    counts: dict[str, int] = {}
    eligible: list[int] = []
    for contact_id, reason in sql.row_verdicts(select):
        counts[reason] = counts.get(reason, 0) + 1
        if reason == "" and len(eligible) < QUIET_SAMPLE:
            eligible.append(contact_id)
    return counts, sum(counts.values()), eligible


def _planner_estimate(campaign: Campaign) -> int | None:
    """PostgreSQL's own estimate of the audience size (no scan); None elsewhere."""
    if connection.vendor != "postgresql":
        return None
    try:
        plan = json.loads(audience_contacts(campaign.audience.filters).explain(format="json"))
    except (AudienceFilterError, ValueError, TypeError):
        return None
    return int(plan[0]["Plan"]["Plan Rows"])


def _variant_forecast(variant, campaign: Campaign) -> VariantForecast:
    version = variant.template_version
    config = version.template.check_config()
    compiled = version.compiled
    lengths, default = config.token_max_lengths, config.default_token_length
    tracked = links.tracking_on(campaign.program, campaign)

    def as_sent(text: str) -> str:
        if not tracked:
            return text
        return shortened_for_count(
            text, settings.SMS_ALLOWED_LINK_DOMAINS, settings.SMS_LINK_DOMAIN
        )

    worst = analyze(
        as_sent(compiled.worst_case_text(lengths, default_length=default)), config.smart_encoding
    )
    has_tokens = bool(compiled.tokens)
    ucs2 = worst
    if has_tokens:
        text = compiled.worst_case_text(lengths, default_length=default, filler=NON_GSM_FILLER)
        ucs2 = analyze(as_sent(text), config.smart_encoding)
    return VariantForecast(
        label=variant.label,
        version=str(version),
        weight=variant.weight,
        characters=worst.characters,
        encoding=worst.encoding,
        segments=worst.segments,
        segments_ucs2=max(ucs2.segments, worst.segments),
        has_tokens=has_tokens,
    )


def _price(campaign: Campaign) -> Decimal:
    kinds = list(campaign.senders.filter(active=True).values_list("kind", flat=True))
    if not kinds:
        return Decimal(0)
    prices = [Decimal(str(settings.SMS_PRICE_PER_SEGMENT.get(kind, 0))) for kind in kinds]
    return sum(prices, Decimal(0)) / len(prices)


def _forecast_quiet_hours(summary: LaunchSummary, campaign: Campaign, ids: list[int]) -> None:
    contacts = Contact.objects.filter(pk__in=ids)
    book = rulebook()
    start = summary.start
    sends, holds = [], []
    jurisdictions: set[str] = set()
    for contact in contacts:
        jurisdictions |= sending_rules.recipient_jurisdictions(contact)
        at = start
        if campaign.schedule == ScheduleKind.LOCAL:
            at = max(local_send_at(campaign, contact), start)
        sends.append(at)
        try:
            allowed = sending_rules.next_allowed_at(contact, campaign.program, at, book)
        except sending_rules.NoAllowedWindow:
            allowed = None
        if allowed is None or allowed > at:
            holds.append(allowed or at)
            zone = ", ".join(sorted(sending_rules.recipient_time_zones(contact)))
            summary.quiet_by_zone[zone] = summary.quiet_by_zone.get(zone, 0) + 1
    summary.quiet_sampled, summary.quiet_held = len(sends), len(holds)
    if sends and campaign.schedule == ScheduleKind.LOCAL:
        summary.window = (min(sends), max(sends))
    if holds:
        summary.quiet_until = (min(holds), max(holds))
    program = campaign.program
    day = start.date()
    summary.quiet_rules = sorted(
        f"{rule.jurisdiction} {rule.start:%H:%M}-{rule.end:%H:%M}"
        + (f" (Sun from {rule.sunday_start:%H:%M})" if rule.sunday_start else "")
        + (" no Sundays" if rule.no_sundays else "")
        for rule in book.applicable(
            frozenset(jurisdictions), program.message_type, program.quiet_hours_exempt
        )
        if rule.in_effect(day)
    )


def launch_summary(campaign: Campaign) -> LaunchSummary:
    """Recipients, exclusions by reason, segments, cost and quiet hours, if launched now.

    Reads at most SAMPLE_LIMIT + 1 audience rows plus QUIET_SAMPLE contacts; writes nothing.
    """

    summary = LaunchSummary(campaign=campaign, problems=launch_problems(campaign))
    summary.currency = settings.SMS_PRICE_CURRENCY
    summary.start = campaign_start(campaign)
    variants = list(campaign.variants.select_related("template_version__template__program"))
    summary.variants = [_variant_forecast(v, campaign) for v in variants]
    try:
        counts, read, eligible_ids = _verdicts(campaign)
    except (FanoutError, AudienceFilterError):
        return summary  # the problems say why
    summary.read = read
    scale = 1.0
    if read > SAMPLE_LIMIT:
        summary.exact = False
        summary.estimated_audience = _planner_estimate(campaign)
        if summary.estimated_audience and summary.estimated_audience > read:
            scale = summary.estimated_audience / read
    summary.eligible = round(counts.pop("", 0) * scale)
    summary.excluded = {reason: round(n * scale) for reason, n in counts.items()}
    weights = sum(v.weight for v in summary.variants) or 1
    summary.segments_per_message = sum(v.segments * v.weight for v in summary.variants) / weights
    summary.segments_per_message_ucs2 = (
        sum(v.segments_ucs2 * v.weight for v in summary.variants) / weights
    )
    summary.total_segments = round(summary.eligible * summary.segments_per_message)
    summary.total_segments_ucs2 = round(summary.eligible * summary.segments_per_message_ucs2)
    summary.price_per_segment = _price(campaign)
    summary.cost = (summary.price_per_segment * summary.total_segments).quantize(Decimal("0.01"))
    summary.cost_ucs2 = (summary.price_per_segment * summary.total_segments_ucs2).quantize(
        Decimal("0.01")
    )
    if summary.eligible:
        _forecast_quiet_hours(summary, campaign, eligible_ids)
    return summary
