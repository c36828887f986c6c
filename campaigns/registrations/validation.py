"""The rules a registration snapshot is checked against when it is saved or submitted.

Each problem is a `Problem` whose `code` names the field it concerns (`message_samples.opt_out`,
`opt_in_message.rates`...): a stable contract for the admin, tests and the review. Severity
`reject` is what carriers most often reject a campaign for (submission refuses it); `warning`
is worth fixing first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.urls import reverse

from consent.models import ConsentEvent, ConsentKind, Disclosure, MessageType, Program
from templates.checks import _OPT_OUT, _links

if TYPE_CHECKING:
    from .models import RegistrationSnapshot

#: Limits of Twilio's A2P campaign resource (and The Campaign Registry behind it).
DESCRIPTION_LENGTH = (40, 4096)
MESSAGE_FLOW_LENGTH = (40, 2048)
SAMPLE_COUNT = (2, 5)
SAMPLE_LENGTH = (20, 1024)
KEYWORD_MESSAGE_LENGTH = (20, 320)
SUB_USE_CASE_COUNT = (2, 5)
SUB_USE_CASE_PARENTS = frozenset({"MIXED", "LOW_VOLUME"})

#: A phone number written in a message: US ten-digit forms, with or without +1.
PHONE_RE = re.compile(r"(?<![\d\w])(?:\+?1[\s.-]?)?\(?[2-9]\d{2}\)?[\s.-]?\d{3}[\s.-]?\d{4}(?!\d)")
#: A field written the way a template engine or a person fills it in, not in [brackets].
UNBRACKETED_FIELD_RE = re.compile(
    r"\{[^{}]*\}|<[A-Za-z][\w ]*>|%[A-Za-z_]+%|\$\{?[A-Za-z_]+\}?|\*\|[A-Z_]+\|\*|\bX{3,}\b"
)
_RATES_RE = re.compile(r"msg\s*(?:&|and)\s*data\s*rates\s*may\s*apply", re.IGNORECASE)
_FREQUENCY_RE = re.compile(
    r"(?:msg|message)s?\s*(?:frequency|freq)|\b\d+\s*(?:msgs?|messages)\s*/?\s*(?:per\s*)?"
    r"(?:mo|month|wk|week|day)|recurring",
    re.IGNORECASE,
)
_HELP_RE = re.compile(r"\bHELP\b")
_STOP_RE = re.compile(r"\bSTOP\b")
_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")

#: Words a message flow uses for each opt-in method the ledger records. Methods a person does
#: not perform (import, carrier, preference centre) are not asked for.
METHOD_WORDS: dict[str, tuple[str, ...]] = {
    "web_form": ("web form", "website", "online form", "form", "web"),
    "keyword": ("keyword", "text ", "texting", "reply"),
    "checkbox": ("checkbox", "check box", "tick"),
    "paper": ("paper", "written", "sign-up sheet", "signup sheet"),
    "verbal": ("verbal", "phone call", "in person", "by phone", "over the phone"),
    "email": ("email", "e-mail"),
    "api": ("checkout", "app", "partner", "booking"),
    "agent": ("agent", "in store", "in-store", "associate"),
}


@dataclass(frozen=True, slots=True)
class Problem:
    code: str
    severity: str  # "reject" | "warning"
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "field": self.field,
            "message": self.message,
        }


def _length(value: str, bounds: tuple[int, int], field: str, what: str) -> list[Problem]:
    low, high = bounds
    size = len(value.strip())
    if low <= size <= high:
        return []
    return [
        Problem(
            f"{field.split('[')[0]}.length",
            "reject",
            field,
            f"{what} must be {low}-{high} characters; it is {size}.",
        )
    ]


def has_link(text: str) -> bool:
    return bool(_links(text))


def has_phone(text: str) -> bool:
    return bool(PHONE_RE.search(text))


def brand_names(snapshot: RegistrationSnapshot) -> list[str]:
    registration = snapshot.registration
    names = [registration.brand.display_name, registration.brand.legal_name]
    if registration.pk:
        names += [p.brand_name for p in registration.programs.all()]
        names += [p.name for p in registration.programs.all()]
    return [n for n in dict.fromkeys(names) if n and n.strip()]


def mentions(text: str, names: Iterable[str]) -> bool:
    """Whether a name appears as words, outside links (acme.example does not name Acme)."""
    for link, _, _ in _links(text):
        text = text.replace(link, " ")
    for name in names:
        words = r"\s+".join(re.escape(w) for w in name.split())
        if re.search(rf"(?<!\w){words}(?!\w)", text, re.IGNORECASE):
            return True
    return False


def ledger_opt_in_methods(program_ids: Iterable[int]) -> set[str]:
    """Opt-in methods the consent ledger shows for these programs (one grouped query)."""
    return set(
        ConsentEvent.objects.filter(
            program_id__in=list(program_ids),
            kind__in=[ConsentKind.OPT_IN, ConsentKind.RE_OPT_IN],
        )
        .order_by()
        .values_list("method", flat=True)
        .distinct()
    )


def flow_names_method(message_flow: str, method: str) -> bool:
    words = METHOD_WORDS.get(method)
    if words is None:
        return True
    lowered = f" {message_flow.lower()} "
    return any(word in lowered for word in words)


def opt_in_pages(program_ids: Iterable[int]) -> set[str]:
    """The URLs a message flow may link: each program's hosted join form and the pages its
    disclosures are shown on."""
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    pages = {
        base + reverse("consent:join", args=[slug])
        for slug in Program.objects.filter(pk__in=list(program_ids)).values_list("slug", flat=True)
    }
    pages |= set(
        Disclosure.objects.filter(program_id__in=list(program_ids))
        .exclude(page_url="")
        .values_list("page_url", flat=True)
    )
    return pages


def _links_an_opt_in_page(message_flow: str, pages: set[str]) -> bool:
    lowered = message_flow.lower()
    return any(page.lower().rstrip("/") in lowered for page in pages)


def validate_snapshot(snapshot: RegistrationSnapshot) -> list[Problem]:
    """Every problem of the snapshot, in field order."""
    problems: list[Problem] = []
    kind = snapshot.registration.kind
    samples = [s for s in (snapshot.message_samples or []) if isinstance(s, str)]

    if snapshot.use_case in SUB_USE_CASE_PARENTS:
        low, high = SUB_USE_CASE_COUNT
        if not low <= len(snapshot.sub_use_cases or []) <= high:
            problems.append(
                Problem(
                    "sub_use_cases.count",
                    "reject",
                    "sub_use_cases",
                    f"A {snapshot.use_case} campaign lists {low}-{high} sub-use-cases.",
                )
            )
    problems += _length(snapshot.description, DESCRIPTION_LENGTH, "description", "Description")
    problems += _length(
        snapshot.message_flow, MESSAGE_FLOW_LENGTH, "message_flow", "The message flow"
    )

    low, high = SAMPLE_COUNT if kind != "toll_free" else (1, 5)
    if not low <= len(samples) <= high:
        problems.append(
            Problem(
                "message_samples.count",
                "reject",
                "message_samples",
                f"Give {low}-{high} sample messages; there are {len(samples)}.",
            )
        )
    names = brand_names(snapshot)
    for i, sample in enumerate(samples):
        field = f"message_samples[{i}]"
        problems += _length(sample, SAMPLE_LENGTH, field, f"Sample {i + 1}")
        if names and not mentions(sample, names):
            problems.append(
                Problem(
                    "message_samples.brand_name",
                    "reject",
                    field,
                    f"Sample {i + 1} does not name the brand ({names[0]}).",
                )
            )
        unbracketed = UNBRACKETED_FIELD_RE.findall(sample)
        if unbracketed:
            problems.append(
                Problem(
                    "message_samples.unbracketed_field",
                    "warning",
                    field,
                    f"Sample {i + 1} shows templated fields as {', '.join(unbracketed)}: "
                    "write them in brackets, e.g. [first name].",
                )
            )
        if has_link(sample) and not snapshot.has_embedded_links:
            problems.append(
                Problem(
                    "message_samples.undeclared_link",
                    "reject",
                    field,
                    f"Sample {i + 1} has a link but the registration says no embedded links.",
                )
            )
        if has_phone(sample) and not snapshot.has_embedded_phone:
            problems.append(
                Problem(
                    "message_samples.undeclared_phone",
                    "reject",
                    field,
                    f"Sample {i + 1} has a phone number but the registration says none.",
                )
            )
    if samples and not any(_OPT_OUT.search(s) for s in samples):
        problems.append(
            Problem(
                "message_samples.opt_out",
                "reject",
                "message_samples",
                "No sample says how to opt out ('Reply STOP to opt out').",
            )
        )
    if snapshot.has_embedded_links and samples and not any(has_link(s) for s in samples):
        problems.append(
            Problem(
                "has_embedded_links.no_sample",
                "reject",
                "has_embedded_links",
                "Embedded links are declared but no sample shows one.",
            )
        )
    if snapshot.has_embedded_phone and samples and not any(has_phone(s) for s in samples):
        problems.append(
            Problem(
                "has_embedded_phone.no_sample",
                "reject",
                "has_embedded_phone",
                "An embedded phone number is declared but no sample shows one.",
            )
        )

    program_ids: list[int] = (
        list(snapshot.registration.programs.values_list("pk", flat=True))
        if snapshot.registration.pk
        else []
    )
    if program_ids and snapshot.message_flow:
        missing = sorted(
            m
            for m in ledger_opt_in_methods(program_ids)
            if not flow_names_method(snapshot.message_flow, m)
        )
        if missing:
            problems.append(
                Problem(
                    "message_flow.opt_in_method",
                    "reject",
                    "message_flow",
                    "The message flow does not describe every way people opt in; the ledger "
                    f"also shows: {', '.join(missing)}.",
                )
            )
        pages = opt_in_pages(program_ids)
        if pages and not _links_an_opt_in_page(snapshot.message_flow, pages):
            problems.append(
                Problem(
                    "message_flow.form_link",
                    "reject",
                    "message_flow",
                    "Link the hosted opt-in form or the page showing the disclosure "
                    f"(e.g. {sorted(pages)[0]}) so the call to action can be verified.",
                )
            )

    problems += _keyword_message_problems(snapshot, names)

    if _is_marketing(snapshot) and not snapshot.privacy_policy_url:
        problems.append(
            Problem(
                "privacy_policy_url.required",
                "reject",
                "privacy_policy_url",
                "A marketing campaign needs a privacy policy URL.",
            )
        )
    return problems


def covered_message_types(snapshot: RegistrationSnapshot) -> set[str]:
    """The message types a snapshot's use case (and sub-use-cases) covers."""
    covered: set[str] = set()
    for case in {snapshot.use_case, *(snapshot.sub_use_cases or [])}:
        covered |= set(settings.REGISTRATION_USE_CASE_MESSAGE_TYPES.get(case, ()))
    return covered


def _is_marketing(snapshot: RegistrationSnapshot) -> bool:
    return MessageType.MARKETING in covered_message_types(snapshot)


def _keyword_message_problems(snapshot: RegistrationSnapshot, names: list[str]) -> list[Problem]:
    problems: list[Problem] = []
    for field, label in (
        ("opt_in_message", "The opt-in message"),
        ("opt_out_message", "The opt-out message"),
        ("help_message", "The HELP message"),
    ):
        value = getattr(snapshot, field)
        if value or snapshot.registration.kind == "10dlc":
            problems += _length(value, KEYWORD_MESSAGE_LENGTH, field, label)
    text = snapshot.opt_in_message
    if text:
        missing = []
        if names and not mentions(text, names):
            missing.append(("program_name", "the program or brand name"))
        if not _FREQUENCY_RE.search(text):
            missing.append(("frequency", "the message frequency ('Msg frequency varies')"))
        if not _RATES_RE.search(text):
            missing.append(("rates", "'Msg & data rates may apply'"))
        if not _HELP_RE.search(text):
            missing.append(("help", "HELP for help"))
        if not _STOP_RE.search(text):
            missing.append(("stop", "STOP to cancel"))
        for suffix, what in missing:
            problems.append(
                Problem(
                    f"opt_in_message.{suffix}",
                    "reject",
                    "opt_in_message",
                    f"The opt-in message must include {what}.",
                )
            )
    help_message = snapshot.help_message
    if help_message and not (
        _EMAIL_RE.search(help_message) or has_phone(help_message) or has_link(help_message)
    ):
        problems.append(
            Problem(
                "help_message.support_contact",
                "reject",
                "help_message",
                "The HELP message must give a support contact: a phone number, e-mail or URL.",
            )
        )
    return problems
