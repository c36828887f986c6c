"""The program review: is what we send still what we registered?

`program_review_run` is the one entry point: the django-q2 schedule (through
`program_review_due`), the admin's "Review now" button and `manage.py program_review` call it.
For one registration it reads, over a window (default 30 days):

- the messages its senders handed to the provider, grouped in the database per template
  version (and, for messages without one, per distinct body, at most `BODY_GROUPS` of them),
- the approved template versions of its programs and the templates of their active flows,
- the programs' disclosures, join keywords, HELP and confirmation texts, and the opt-in methods
  the consent ledger shows,

and compares them with the approved snapshot. Each difference is a finding, carried over
between runs by its `key` (see `ReviewFinding`). Nothing is ever read per message in Python.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.functions import TruncDate, TruncMinute
from django.utils import timezone

from consent.models import Disclosure, MessageType, Program
from messaging.models import OutboundMessage, Sender
from messaging.models.outbound import HANDED_OFF
from templates.checks import (
    DEFAULT_AGE_GATED_CATEGORIES,
    DEFAULT_PROHIBITED_TERMS,
    DEFAULT_SHORTENERS,
    _links,
    _on_domain,
    _term_pattern,
)
from templates.models import MessageTemplate, TemplateCategory, TemplateVersion, VersionStatus

from . import gate
from .models import (
    FindingCode,
    FindingStatus,
    ProgramReview,
    Registration,
    RegistrationError,
    RegistrationSnapshot,
    RegistrationStatus,
    ReviewFinding,
    ReviewTrigger,
    Severity,
)
from .validation import PHONE_RE, covered_message_types, flow_names_method, ledger_opt_in_methods

#: Distinct bodies of messages sent without a template version that a review inspects.
BODY_GROUPS = 200
#: Terms that mark direct lending (a flag carriers want declared).
DIRECT_LENDING_TERMS = (
    "loan", "lending", "lender", "payday", "cash advance", "line of credit", "pre-approved",
    "preapproved", "apply now for", "borrow",
)  # fmt: skip
#: Keywords every program answers without registering them (carrier and Twilio defaults).
STANDARD_OPT_IN = frozenset({"START", "YES", "UNSTOP"})
_TOKEN_RE = re.compile(r"\{([^{}|:]+)(?:[|:][^{}]*)?\}")
_BRACKET_RE = re.compile(r"\[[^\[\]]*\]")
_WORD_RE = re.compile(r"[\w'&%$]+|◊")


# --- what the review reads -------------------------------------------------------------------


@dataclass
class Body:
    """One distinct thing sent: a template version, or a body sent without one."""

    text: str
    program_id: int
    message_type: str
    messages: int = 0
    example_id: int | None = None
    version_id: int | None = None
    template_id: int | None = None
    template_name: str = ""

    def label(self) -> str:
        return self.template_name or f"messages without a template (e.g. #{self.example_id})"

    def evidence(self) -> dict[str, Any]:
        return {
            "template": self.template_name or None,
            "template_version": self.version_id,
            "messages": self.messages,
            "example_message": self.example_id,
            "body": self.text,
        }


@dataclass
class Traffic:
    bodies: list[Body] = field(default_factory=list)
    messages: int = 0
    filtered: int = 0
    per_sender: dict[tuple[int, int, str], int] = field(default_factory=dict)
    peak_day: tuple[Any, int] | None = None
    peak_minute: tuple[Any, int] | None = None


def _sent(sender_ids: list[int], start: datetime, end: datetime):
    return OutboundMessage.objects.filter(
        sender_id__in=sender_ids, status__in=HANDED_OFF, sent_at__gte=start, sent_at__lt=end
    ).order_by()


def read_traffic(
    sender_ids: list[int], start: datetime, end: datetime, *, throughput: bool = True
) -> Traffic:
    """Aggregates of the window's handed-off messages: a handful of grouped queries."""
    traffic = Traffic()
    if not sender_ids:
        return traffic
    sent = _sent(sender_ids, start, end)
    versions: dict[tuple[int, int, str], dict[str, Any]] = {}
    grouped = sent.values("template_version_id", "program_id", "message_type", "sender_id")
    for row in grouped.annotate(
        n=Count("id"), filtered=Count("id", filter=Q(error_code=30007)), example=Min("id")
    ):
        traffic.messages += row["n"]
        traffic.filtered += row["filtered"]
        key = (row["sender_id"], row["program_id"], row["message_type"])
        traffic.per_sender[key] = traffic.per_sender.get(key, 0) + row["n"]
        if row["template_version_id"] is not None:
            vkey = (row["template_version_id"], row["program_id"], row["message_type"])
            seen = versions.setdefault(vkey, {"n": 0, "example": row["example"]})
            seen["n"] += row["n"]
            seen["example"] = min(seen["example"], row["example"])
    bodies = TemplateVersion.objects.filter(pk__in={k[0] for k in versions}).select_related(
        "template"
    )
    by_id = {v.pk: v for v in bodies}
    for (version_id, program_id, message_type), seen in versions.items():
        version = by_id[version_id]
        traffic.bodies.append(
            Body(
                text=version.body,
                program_id=program_id,
                message_type=message_type,
                messages=seen["n"],
                example_id=seen["example"],
                version_id=version_id,
                template_id=version.template_id,
                template_name=version.template.name,
            )
        )
    loose = (
        sent.filter(template_version__isnull=True)
        .values("body", "program_id", "message_type")
        .annotate(n=Count("id"), example=Min("id"))
        .order_by("-n")[:BODY_GROUPS]
    )
    for row in loose:
        traffic.bodies.append(
            Body(
                text=row["body"],
                program_id=row["program_id"],
                message_type=row["message_type"],
                messages=row["n"],
                example_id=row["example"],
            )
        )
    if throughput and traffic.messages:
        day = (
            sent.annotate(day=TruncDate("sent_at"))
            .values("day")
            .annotate(segments=Sum("segments"))
            .order_by("-segments")
            .first()
        )
        traffic.peak_day = (day["day"], day["segments"]) if day else None
        minute = (
            sent.annotate(minute=TruncMinute("sent_at"))
            .values("minute")
            .annotate(n=Count("id"))
            .order_by("-n")
            .first()
        )
        traffic.peak_minute = (minute["minute"], minute["n"]) if minute else None
    return traffic


def live_template_bodies(program_ids: list[int], seen_versions: set[int]) -> list[Body]:
    """Approved versions of the programs' templates and of their active flows' templates that
    sent nothing in the window: what the senders are ready to send."""
    versions = (
        TemplateVersion.objects.filter(
            status=VersionStatus.APPROVED, template__program_id__in=program_ids
        )
        .exclude(pk__in=seen_versions)
        .select_related("template", "template__program")
    )
    return [
        Body(
            text=v.body,
            program_id=v.template.program_id,
            message_type=template_message_type(v.template),
            version_id=v.pk,
            template_id=v.template_id,
            template_name=v.template.name,
        )
        for v in versions
    ]


def template_message_type(template: MessageTemplate) -> str:
    if template.category == TemplateCategory.PROMOTIONAL:
        return MessageType.MARKETING
    if template.category == TemplateCategory.CUSTOMER_CARE:
        return MessageType.CUSTOMER_CARE
    return template.program.message_type


# --- sample similarity ------------------------------------------------------------------------


def normalize_sample(text: str) -> list[str]:
    """Words of a body or sample, with every token and bracketed field one placeholder."""
    text = _TOKEN_RE.sub(" ◊ ", text)
    text = _BRACKET_RE.sub(" ◊ ", text)
    return _WORD_RE.findall(text.lower())


def similarity(body: str, sample: str) -> float:
    return difflib.SequenceMatcher(
        None, normalize_sample(body), normalize_sample(sample), autojunk=False
    ).ratio()


def as_sample(body: str) -> str:
    """A template body written the way carriers want samples: fields in [brackets]."""

    def bracket(match: re.Match[str]) -> str:
        name = match.group(1).split(".")[-1].replace("_", " ").strip()
        return f"[{name}]"

    return _TOKEN_RE.sub(bracket, body)


# --- findings ---------------------------------------------------------------------------------


@dataclass
class Draft:
    key: str
    code: str
    severity: str
    field: str
    detail: str
    evidence: dict[str, Any]
    risk: str
    suggested_fix: str
    magnitude: int
    proposal: dict[str, Any] = field(default_factory=dict)
    template_ids: set[int] = field(default_factory=set)
    sender_id: int | None = None


RISK_30034 = "Carriers block unregistered 10DLC traffic (error 30034)."
RISK_SUSPEND = (
    "Carriers audit live traffic and suspend campaigns whose traffic no longer matches the "
    "registration (TCR vetting, Twilio errors 30889/30893)."
)


def _link_findings(snapshot: RegistrationSnapshot, bodies: list[Body]) -> list[Draft]:
    declared = snapshot.has_embedded_links
    allowed = [*settings.SMS_ALLOWED_LINK_DOMAINS, *(snapshot.link_domains or [])]
    items, hosts, shorteners, foreign, template_ids = [], set(), set(), set(), set()
    for body in bodies:
        links = _links(body.text)
        if not links:
            continue
        body_hosts = {host for _, host, _ in links}
        short = {h for h in body_hosts if _on_domain(h, DEFAULT_SHORTENERS)}
        outside = {h for h in body_hosts - short if not _on_domain(h, allowed)}
        if declared and not short and not outside:
            continue
        hosts |= body_hosts
        shorteners |= short
        foreign |= outside
        items.append({**body.evidence(), "links": [text for text, _, _ in links]})
        if body.template_id:
            template_ids.add(body.template_id)
    if not items:
        return []
    problems = []
    if not declared:
        problems.append("links are sent while the registration declares no embedded links")
    if shorteners:
        problems.append(f"public shorteners ({', '.join(sorted(shorteners))})")
    if foreign:
        problems.append(f"domains outside the registered ones ({', '.join(sorted(foreign))})")
    severity = Severity.REJECT if (not declared or shorteners) else Severity.WARNING
    branded = sorted(hosts - shorteners)
    return [
        Draft(
            key="undeclared_links",
            code=FindingCode.UNDECLARED_LINKS,
            severity=severity,
            field="has_embedded_links",
            detail=f"{len(items)} live template(s) or bodies: " + "; ".join(problems) + ".",
            evidence={
                "snapshot_value": {
                    "has_embedded_links": declared,
                    "link_domains": snapshot.link_domains,
                },
                "items": items,
                "messages": sum(i["messages"] for i in items),
            },
            risk=RISK_SUSPEND,
            suggested_fix="Declare embedded links and their branded domains in a new snapshot, "
            "with a sample showing one; replace public shorteners with a branded domain.",
            magnitude=len(items),
            proposal={
                "has_embedded_links": True,
                "link_domains": sorted({*snapshot.link_domains, *branded}),
            },
            template_ids=template_ids,
        )
    ]


def _phone_findings(snapshot: RegistrationSnapshot, bodies: list[Body]) -> list[Draft]:
    if snapshot.has_embedded_phone:
        return []
    matching = [b for b in bodies if PHONE_RE.search(_TOKEN_RE.sub(" ", b.text))]
    items = [
        {**b.evidence(), "phones": PHONE_RE.findall(_TOKEN_RE.sub(" ", b.text))} for b in matching
    ]
    if not items:
        return []
    return [
        Draft(
            key="undeclared_phone",
            code=FindingCode.UNDECLARED_PHONE,
            severity=Severity.REJECT,
            field="has_embedded_phone",
            detail=f"{len(items)} live template(s) or bodies carry a phone number while the "
            "registration declares none.",
            evidence={
                "snapshot_value": {"has_embedded_phone": False},
                "items": items,
                "messages": sum(i["messages"] for i in items),
            },
            risk=RISK_SUSPEND,
            suggested_fix="Declare an embedded phone number (the sender's own) in a new "
            "snapshot with a sample showing it, or take the number out of the messages.",
            magnitude=len(items),
            proposal={"has_embedded_phone": True},
            template_ids={b.template_id for b in matching if b.template_id},
        )
    ]


def _use_case_findings(
    registration: Registration, snapshot: RegistrationSnapshot, bodies: list[Body]
) -> list[Draft]:
    covered = covered_message_types(snapshot)
    registered_programs = set(registration.programs.values_list("pk", flat=True))
    by_type: dict[str, list[Body]] = defaultdict(list)
    by_program: dict[int, list[Body]] = defaultdict(list)
    for body in bodies:
        if body.message_type not in covered:
            by_type[body.message_type].append(body)
        if body.program_id not in registered_programs:
            by_program[body.program_id].append(body)
    drafts = []
    for message_type, group in sorted(by_type.items()):
        drafts.append(
            Draft(
                key=f"use_case_mismatch:type:{message_type}",
                code=FindingCode.USE_CASE_MISMATCH,
                severity=Severity.REJECT,
                field="use_case",
                detail=f"{message_type} traffic ({len(group)} template(s) or bodies, "
                f"{sum(b.messages for b in group)} messages) on a {snapshot.use_case} "
                "registration, which does not cover it.",
                evidence={
                    "snapshot_value": {
                        "use_case": snapshot.use_case,
                        "sub_use_cases": snapshot.sub_use_cases,
                    },
                    "items": [b.evidence() for b in group[:10]],
                },
                risk=RISK_SUSPEND,
                suggested_fix="Register a campaign for this message type (or a MIXED one "
                "listing it), or send it from a sender registered for it.",
                magnitude=len(group),
                template_ids={b.template_id for b in group if b.template_id},
            )
        )
    names = dict(Program.objects.filter(pk__in=list(by_program)).values_list("pk", "name"))
    for program_id, group in sorted(by_program.items()):
        drafts.append(
            Draft(
                key=f"use_case_mismatch:program:{program_id}",
                code=FindingCode.USE_CASE_MISMATCH,
                severity=Severity.REJECT,
                field="programs",
                detail=f"Program “{names.get(program_id, program_id)}” sends on this "
                "registration's senders but the registration does not cover it.",
                evidence={
                    "program": program_id,
                    "messages": sum(b.messages for b in group),
                    "items": [b.evidence() for b in group[:10]],
                },
                risk=RISK_SUSPEND,
                suggested_fix="Add the program to this registration in a new snapshot "
                "(samples and message flow included), or register it separately.",
                magnitude=len(group),
                template_ids={b.template_id for b in group if b.template_id},
            )
        )
    return drafts


def _drift_findings(snapshot: RegistrationSnapshot, bodies: list[Body]) -> list[Draft]:
    samples = [s for s in snapshot.message_samples if isinstance(s, str)]
    threshold = settings.REGISTRATION_SAMPLE_SIMILARITY
    drifted = []
    for body in sorted(bodies, key=lambda b: -b.messages):
        best = max((similarity(body.text, s) for s in samples), default=0.0)
        if best < threshold:
            drifted.append((body, best))
    if not drifted:
        return []
    proposed = [as_sample(b.text) for b, _ in drifted]
    keep = [
        s for s in samples if any(similarity(b.text, s) >= threshold for b in bodies)
    ] or samples[:1]
    new_samples = list(dict.fromkeys([*keep, *proposed]))[:5]
    return [
        Draft(
            key="sample_drift",
            code=FindingCode.SAMPLE_DRIFT,
            severity=Severity.WARNING,
            field="message_samples",
            detail=f"{len(drifted)} live template(s) or bodies resemble no registered sample "
            f"(best similarity under {threshold:.0%}).",
            evidence={
                "snapshot_value": samples,
                "items": [
                    {**b.evidence(), "best_similarity": round(score, 2)} for b, score in drifted
                ],
                "proposed_samples": proposed,
            },
            risk="Samples that no longer look like live traffic get campaigns suspended at "
            "audit (TCR 'content does not match campaign').",
            suggested_fix="Prepare a new snapshot with samples taken from the live templates "
            "(fields in brackets).",
            magnitude=len({(b.template_id or b.text) for b, _ in drifted}),
            proposal={"message_samples": new_samples},
            template_ids={b.template_id for b, _ in drifted if b.template_id},
        )
    ]


def _opt_in_findings(registration: Registration, snapshot: RegistrationSnapshot) -> list[Draft]:
    drafts = []
    submitted = snapshot.submitted_at
    now = timezone.now()
    program_ids = list(registration.programs.values_list("pk", flat=True))
    # A disclosure that took effect after the submission, or the current one if it was
    # written after it (a back-dated effective time does not hide a new text).
    changed = (
        Disclosure.objects.filter(program_id__in=program_ids)
        .filter(Q(created_at__gt=submitted) | Q(effective_at__gt=submitted))
        .select_related("program")
        .order_by("program_id", "version")
    )
    by_program: dict[int, list[Disclosure]] = defaultdict(list)
    for disclosure in changed:
        current = disclosure.program.current_disclosure(at=now)
        if disclosure.effective_at > submitted or disclosure.pk == getattr(current, "pk", None):
            by_program[disclosure.program_id].append(disclosure)
    for program_id, disclosures in by_program.items():
        program = disclosures[0].program
        drafts.append(
            Draft(
                key=f"opt_in_flow_changed:disclosure:{program_id}",
                code=FindingCode.OPT_IN_FLOW_CHANGED,
                severity=Severity.WARNING,
                field="message_flow",
                detail=f"The disclosure of “{program}” changed after v{snapshot.number} was "
                f"submitted ({submitted:%Y-%m-%d}): version(s) "
                + ", ".join(f"v{d.version}" for d in disclosures)
                + ".",
                evidence={
                    "snapshot_value": snapshot.message_flow,
                    "submitted_at": submitted.isoformat(),
                    "disclosures": [
                        {
                            "version": d.version,
                            "effective_at": d.effective_at.isoformat(),
                            "text": d.text,
                            "page_url": d.page_url,
                        }
                        for d in disclosures
                    ],
                },
                risk="A call to action carriers cannot verify against the live opt-in page "
                "gets the campaign rejected or suspended (TCR 'CTA not verifiable').",
                suggested_fix="Check the message flow still describes the opt-in page and "
                "disclosure; resubmit it if the wording or page changed.",
                magnitude=len(disclosures),
            )
        )
    missing = sorted(
        m
        for m in ledger_opt_in_methods(program_ids)
        if not flow_names_method(snapshot.message_flow, m)
    )
    if missing:
        drafts.append(
            Draft(
                key="opt_in_flow_changed:methods",
                code=FindingCode.OPT_IN_FLOW_CHANGED,
                severity=Severity.REJECT,
                field="message_flow",
                detail="The consent ledger shows opt-in methods the message flow never "
                f"mentions: {', '.join(missing)}.",
                evidence={"snapshot_value": snapshot.message_flow, "methods": missing},
                risk="Opt-ins collected in ways the campaign does not describe are not "
                "covered by it (TCR 'opt-in not described').",
                suggested_fix="Describe each of these opt-in methods in the message flow of a "
                "new snapshot.",
                magnitude=len(missing),
            )
        )
    return drafts


def _squash(text: str) -> str:
    return " ".join(text.split()).casefold()


def _keyword_findings(registration: Registration, snapshot: RegistrationSnapshot) -> list[Draft]:
    drafts = []
    registered_in = {k.upper() for k in snapshot.opt_in_keywords}
    programs = list(registration.programs.all())
    program_words = {w.upper() for p in programs for w in (p.join_keywords or [])}
    for program in programs:
        differences: dict[str, dict[str, Any]] = {}
        unlisted = sorted({w.upper() for w in program.join_keywords or []} - registered_in)
        if unlisted:
            differences["opt_in_keywords"] = {
                "registered": sorted(registered_in),
                "program": sorted(program.join_keywords),
                "missing": unlisted,
            }
        for field_name, live in (
            ("help_message", program.help_text),
            ("opt_in_message", program.opt_in_confirmation_text),
            ("opt_out_message", program.opt_out_confirmation_text),
        ):
            registered = getattr(snapshot, field_name)
            if registered and live and _squash(registered) != _squash(live):
                differences[field_name] = {"registered": registered, "program": live}
        if differences:
            drafts.append(
                Draft(
                    key=f"keyword_mismatch:{program.pk}",
                    code=FindingCode.KEYWORD_MISMATCH,
                    severity=Severity.WARNING,
                    field=", ".join(differences),
                    detail=f"“{program}” answers with keywords or texts the registration does "
                    f"not list: {', '.join(differences)}.",
                    evidence={"program": program.pk, "differences": differences},
                    risk="Carriers test the registered keywords and compare the replies; a "
                    "mismatch fails vetting or audit.",
                    suggested_fix="Register the program's real keywords and texts in a new "
                    "snapshot (or change the program to match the registration).",
                    # Each missing keyword and each differing text counts once.
                    magnitude=len(unlisted) + len(differences) - (1 if unlisted else 0),
                    proposal={
                        "opt_in_keywords": sorted(registered_in | set(unlisted)),
                        **{
                            f: v["program"]
                            for f, v in differences.items()
                            if f != "opt_in_keywords"
                        },
                    },
                )
            )
    stale = sorted(registered_in - program_words - STANDARD_OPT_IN)
    if stale and programs:
        drafts.append(
            Draft(
                key="keyword_mismatch:registered",
                code=FindingCode.KEYWORD_MISMATCH,
                severity=Severity.WARNING,
                field="opt_in_keywords",
                detail=f"Registered opt-in keywords no program answers: {', '.join(stale)}.",
                evidence={
                    "snapshot_value": sorted(registered_in),
                    "program": sorted(program_words),
                },
                risk="A registered keyword that does nothing fails carrier testing.",
                suggested_fix="Add the keyword to a program or drop it from the registration.",
                magnitude=len(stale),
            )
        )
    return drafts


def _content_findings(snapshot: RegistrationSnapshot, bodies: list[Body]) -> list[Draft]:
    drafts = []
    checks = []
    if not snapshot.age_gated:
        terms = tuple(t for c in DEFAULT_AGE_GATED_CATEGORIES for t in DEFAULT_PROHIBITED_TERMS[c])
        checks.append(("age_gated", terms, "age-gated (alcohol, firearms, tobacco) content"))
    if not snapshot.direct_lending:
        checks.append(("direct_lending", DIRECT_LENDING_TERMS, "direct-lending content"))
    for flag, terms, what in checks:
        pattern = _term_pattern(terms)
        items, template_ids = [], set()
        for body in bodies:
            found = sorted({m.group().lower() for m in pattern.finditer(body.text)})
            if found:
                items.append({**body.evidence(), "terms": found})
                if body.template_id:
                    template_ids.add(body.template_id)
        if items:
            drafts.append(
                Draft(
                    key=f"content_flags:{flag}",
                    code=FindingCode.CONTENT_FLAGS,
                    severity=Severity.REJECT,
                    field=flag,
                    detail=f"{len(items)} live template(s) or bodies carry {what} while the "
                    f"registration's {flag} flag is off.",
                    evidence={"snapshot_value": {flag: False}, "items": items},
                    risk="Undeclared age-gated or lending content is a suspension reason.",
                    suggested_fix=f"Declare {flag} in a new snapshot (with the age gate or "
                    "lending disclosures it needs), or remove the content.",
                    magnitude=len(items),
                    proposal={flag: True},
                    template_ids=template_ids,
                )
            )
    return drafts


def _throughput_findings(registration: Registration, traffic: Traffic) -> list[Draft]:
    drafts = []
    cap = registration.tmobile_daily_segments
    if cap and traffic.peak_day and traffic.peak_day[1] > cap:
        day, segments = traffic.peak_day
        drafts.append(
            Draft(
                key="throughput_exceeded:daily",
                code=FindingCode.THROUGHPUT_EXCEEDED,
                severity=Severity.WARNING,
                field="tmobile_daily_segments",
                detail=f"{segments} segments on {day} against the brand's daily cap of {cap}.",
                evidence={"snapshot_value": cap, "day": str(day), "segments": segments},
                risk="T-Mobile drops segments over the brand's daily cap.",
                suggested_fix="Spread sends over more days, raise the brand's trust score "
                "(vetting) or cap the sender (daily segment cap).",
                magnitude=segments,
            )
        )
    limit = registration.att_messages_per_minute
    if limit and traffic.peak_minute and traffic.peak_minute[1] > limit:
        minute, count = traffic.peak_minute
        drafts.append(
            Draft(
                key="throughput_exceeded:per_minute",
                code=FindingCode.THROUGHPUT_EXCEEDED,
                severity=Severity.WARNING,
                field="att_messages_per_minute",
                detail=f"{count} messages in the minute from {minute:%Y-%m-%d %H:%M} UTC "
                f"against AT&T's {limit} per minute for this campaign.",
                evidence={"snapshot_value": limit, "minute": minute.isoformat(), "count": count},
                risk="AT&T queues then drops messages over the campaign's rate.",
                suggested_fix="Lower the senders' messages per second to the campaign's rate.",
                magnitude=count,
            )
        )
    if traffic.messages:
        share = traffic.filtered / traffic.messages
        if share > settings.REGISTRATION_FILTERED_SHARE_WARN:
            drafts.append(
                Draft(
                    key="throughput_exceeded:filtered",
                    code=FindingCode.THROUGHPUT_EXCEEDED,
                    severity=Severity.REJECT,
                    field="message_samples",
                    detail=f"{share:.1%} of messages were filtered by carriers (30007).",
                    evidence={"filtered": traffic.filtered, "messages": traffic.messages},
                    risk="A rising carrier-filtering share precedes suspension.",
                    suggested_fix="Compare the filtered templates with the samples; check "
                    "links, opt-out language and content.",
                    magnitude=traffic.filtered,
                )
            )
    return drafts


def _unregistered_findings(
    traffic: Traffic, covered: frozenset[tuple[int, int, str]], registration=None
) -> list[Draft]:
    uncovered: dict[int, int] = defaultdict(int)
    pairs: dict[int, set[tuple[int, str]]] = defaultdict(set)
    for (sender_id, program_id, message_type), n in traffic.per_sender.items():
        if (sender_id, program_id, message_type) not in covered:
            uncovered[sender_id] += n
            pairs[sender_id].add((program_id, message_type))
    if not uncovered:
        return []
    senders = Sender.objects.in_bulk(list(uncovered))
    drafts = []
    for sender_id, messages in sorted(uncovered.items()):
        sender = senders[sender_id]
        if sender.kind != "10dlc":
            continue
        drafts.append(
            Draft(
                key=f"unregistered_sender:{sender_id}",
                code=FindingCode.UNREGISTERED_SENDER,
                severity=Severity.REJECT,
                field="senders",
                detail=f"{sender} sent {messages} messages no approved registration covers.",
                evidence={
                    "sender": sender_id,
                    "messages": messages,
                    "uncovered": sorted([list(p) for p in pairs[sender_id]]),
                    "registration_status": registration.status if registration else None,
                },
                risk=RISK_30034,
                suggested_fix="Register the sender's traffic (or add the sender to an "
                "approved registration covering these programs).",
                magnitude=len(pairs[sender_id]),
                sender_id=sender_id,
            )
        )
    return drafts


def _overdue_findings(registration: Registration, now: datetime) -> list[Draft]:
    last = registration.reviews.filter(signed_off_at__isnull=False).aggregate(
        last=Max("signed_off_at")
    )["last"]
    since = last or registration.created_at
    due = since + registration.cadence
    if now <= due:
        return []
    days = (now - due).days
    return [
        Draft(
            key="review_overdue",
            code=FindingCode.REVIEW_OVERDUE,
            severity=Severity.WARNING,
            field="review_cadence_days",
            detail=f"No review signed off since {since:%Y-%m-%d}"
            f"{'' if last else ' (never)'}; due every {registration.cadence.days} days.",
            evidence={"last_signed_off": last.isoformat() if last else None, "days_late": days},
            risk="Unreviewed drift is what carriers find at audit.",
            suggested_fix="Go through the open findings and sign the review off.",
            magnitude=days // max(registration.cadence.days, 1),
        )
    ]


# --- the run ------------------------------------------------------------------------------------


def findings_for(
    registration: Registration, now: datetime, window: timedelta
) -> tuple[list[Draft], int]:
    """Everything wrong with one registration now: (drafts, messages read)."""
    start = now - window
    sender_ids = list(registration.senders.values_list("pk", flat=True))
    traffic = read_traffic(sender_ids, start, now)
    drafts: list[Draft] = []
    snapshot = registration.approved_snapshot
    if registration.status != RegistrationStatus.APPROVED or snapshot is None:
        drafts += _unregistered_findings(traffic, gate.coverage(), registration)
    if snapshot is not None:
        program_ids = list(registration.programs.values_list("pk", flat=True))
        bodies = traffic.bodies + live_template_bodies(
            program_ids, {b.version_id for b in traffic.bodies if b.version_id}
        )
        drafts += _link_findings(snapshot, bodies)
        drafts += _phone_findings(snapshot, bodies)
        drafts += _use_case_findings(registration, snapshot, bodies)
        drafts += _drift_findings(snapshot, bodies)
        drafts += _opt_in_findings(registration, snapshot)
        drafts += _keyword_findings(registration, snapshot)
        drafts += _content_findings(snapshot, bodies)
        drafts += _throughput_findings(registration, traffic)
    drafts += _overdue_findings(registration, now)
    return drafts, traffic.messages


def _store(review: ProgramReview, drafts: list[Draft], now: datetime) -> int:
    """Carry findings over (see `ReviewFinding`): returns how many are new or grew."""
    live = {
        f.key: f
        for f in ReviewFinding.objects.select_for_update().filter(
            registration=review.registration_id,
            status__in=[FindingStatus.OPEN, FindingStatus.ACKNOWLEDGED],
        )
    }
    raised = 0
    for draft in drafts:
        values = {
            "code": draft.code,
            "severity": draft.severity,
            "field": draft.field,
            "detail": draft.detail,
            "evidence": draft.evidence,
            "risk": draft.risk,
            "suggested_fix": draft.suggested_fix,
            "proposal": draft.proposal,
            "magnitude": draft.magnitude,
            "sender_id": draft.sender_id,
            "review": review,
            "last_seen_at": now,
        }
        finding = live.pop(draft.key, None)
        if finding is None:
            finding = ReviewFinding.objects.create(
                registration=review.registration,
                first_review=review,
                key=draft.key,
                first_seen_at=now,
                **values,
            )
            raised += 1
        else:
            grew = finding.status == FindingStatus.ACKNOWLEDGED and draft.magnitude > (
                finding.acknowledged_magnitude or 0
            )
            if grew:
                values["status"] = FindingStatus.OPEN
            if finding.status == FindingStatus.OPEN and draft.magnitude > finding.magnitude:
                grew = True
            ReviewFinding.objects.filter(pk=finding.pk).update(**values)
            raised += int(grew)
        if draft.template_ids:
            finding.templates.set(draft.template_ids)
        finding.seen_by.add(review)
    for finding in live.values():
        finding.resolve(by=None, note=f"No longer seen by the review of {now:%Y-%m-%d %H:%M}.")
    return raised


def program_review_run(
    *,
    registration: Registration | None,
    trigger: str,
    by=None,
    now: datetime | None = None,
    window_days: int | None = None,
) -> ProgramReview:
    """Review one registration (or, with None, every sender's uncovered traffic) and record
    the review with its findings."""
    now = now or timezone.now()
    window = timedelta(days=window_days or settings.REGISTRATION_REVIEW_WINDOW_DAYS)
    if registration is not None:
        registration = Registration.objects.select_related("approved_snapshot").get(
            pk=registration.pk
        )
        drafts, seen = findings_for(registration, now, window)
    else:
        traffic = read_traffic(
            list(Sender.objects.filter(kind="10dlc").values_list("pk", flat=True)),
            now - window,
            now,
            throughput=False,
        )
        drafts, seen = _unregistered_findings(traffic, gate.coverage()), traffic.messages
    with transaction.atomic():
        review = ProgramReview.objects.create(
            registration=registration,
            started_at=now,
            window_start=now - window,
            window_end=now,
            trigger=trigger,
            by=by,
            messages_seen=seen,
        )
        raised = _store(review, drafts, now)
        open_after = ReviewFinding.objects.filter(
            registration=registration, status=FindingStatus.OPEN
        ).count()
        ProgramReview.objects.filter(pk=review.pk).update(
            raised=raised, open_after=open_after, finished_at=timezone.now()
        )
    review.refresh_from_db()
    return review


def program_review_due(*, now: datetime | None = None) -> list[ProgramReview]:
    """The scheduled run: every registration whose cadence has come round since its last
    review, then the sweep for uncovered senders."""
    now = now or timezone.now()
    reviews = []
    last = dict(
        ProgramReview.objects.filter(registration__isnull=False)
        .order_by()
        .values_list("registration_id")
        .annotate(last=Max("started_at"))
    )
    for registration in Registration.objects.exclude(status=RegistrationStatus.DRAFT):
        previous = last.get(registration.pk)
        if previous is None or previous + registration.cadence <= now:
            reviews.append(
                program_review_run(
                    registration=registration, trigger=ReviewTrigger.SCHEDULE, now=now
                )
            )
    reviews.append(program_review_run(registration=None, trigger=ReviewTrigger.SCHEDULE, now=now))
    return reviews


def prepare_snapshot(finding_ids: list[int], *, by) -> RegistrationSnapshot:
    """A new draft answering these findings of one registration: their proposals applied to
    the newest snapshot. The findings stay open until the draft is submitted."""
    findings = list(ReviewFinding.objects.filter(pk__in=finding_ids).select_related("registration"))
    registrations = {f.registration_id for f in findings}
    if len(registrations) != 1 or None in registrations:
        raise RegistrationError("Choose findings of one registration.")
    registration = findings[0].registration
    changes: dict[str, Any] = {}
    for finding in findings:
        for name, value in finding.proposal.items():
            if isinstance(value, list) and isinstance(changes.get(name), list):
                value = list(dict.fromkeys([*changes[name], *value]))
            changes[name] = value
    if isinstance(changes.get("message_samples"), list):
        changes["message_samples"] = changes["message_samples"][:5]
    return registration.new_draft(by=by, **changes)
