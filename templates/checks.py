"""Content checks for message bodies: what compliance would reject, found before they look.

Every check is a pure function ``(body, config) -> list[Finding]``; `run_checks` runs them
all in a fixed order. The API and the admin show the same list, so `Code` values are a stable
contract: add codes, never rename them. A ``block`` finding stops approval; a ``warn`` is
shown and may be accepted.

Bodies are checked as written, tokens included: a default text is content too, and a link
with a token in its path still has a host to check. Segment checks look at the body rendered
with the shortest and the longest plausible token values.

Codes: template_syntax_error, unknown_token, missing_opt_out_language, missing_brand_name,
public_shortener, link_domain_not_allowed, insecure_link, prohibited_content, card_number,
ssn, secret (block); too_many_segments, token_may_add_segment, all_caps, spammy_punctuation
(warn). prohibited_content is a warn instead for an age-gated category when the program is
age-gated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Protocol
from urllib.parse import urlsplit

from templates.encoding import analyze
from templates.rendering import (
    KNOWN_TOKENS,
    CompiledTemplate,
    TemplateSyntaxError,
    TokenRegistry,
    UnknownTokenError,
    compile_template,
)

__all__ = [
    "DEFAULT_AGE_GATED_CATEGORIES",
    "DEFAULT_PROHIBITED_TERMS",
    "DEFAULT_SHORTENERS",
    "DEFAULT_TOKEN_MAX_LENGTHS",
    "CheckConfig",
    "Code",
    "Finding",
    "Severity",
    "check_all_caps",
    "check_brand_name",
    "check_data_loss",
    "check_links",
    "check_opt_out_language",
    "check_prohibited_content",
    "check_segments",
    "check_spammy_punctuation",
    "check_template",
    "has_blockers",
    "run_checks",
]


class Severity(StrEnum):
    BLOCK = "block"
    WARN = "warn"


class Code(StrEnum):
    """Stable finding codes (API and admin contract)."""

    TEMPLATE_SYNTAX_ERROR = "template_syntax_error"
    UNKNOWN_TOKEN = "unknown_token"  # noqa: S105 -- a finding code, not a credential
    MISSING_OPT_OUT_LANGUAGE = "missing_opt_out_language"
    MISSING_BRAND_NAME = "missing_brand_name"
    PUBLIC_SHORTENER = "public_shortener"
    LINK_DOMAIN_NOT_ALLOWED = "link_domain_not_allowed"
    INSECURE_LINK = "insecure_link"
    PROHIBITED_CONTENT = "prohibited_content"
    CARD_NUMBER = "card_number"
    SSN = "ssn"
    SECRET = "secret"  # noqa: S105
    TOO_MANY_SEGMENTS = "too_many_segments"
    TOKEN_MAY_ADD_SEGMENT = "token_may_add_segment"  # noqa: S105
    ALL_CAPS = "all_caps"
    SPAMMY_PUNCTUATION = "spammy_punctuation"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem. `matched` holds what triggered it (sensitive values masked)."""

    code: str
    severity: Severity
    message: str
    matched: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": str(self.code),
            "severity": str(self.severity),
            "message": self.message,
            "matched": list(self.matched),
        }


DEFAULT_SHORTENERS: frozenset[str] = frozenset(
    {
        "bit.ly", "bitly.com", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "buff.ly",
        "rebrand.ly", "cutt.ly", "tiny.cc", "shorturl.at", "rb.gy", "s.id", "t.ly", "v.gd",
        "bl.ink", "short.io", "shorturl.com", "tiny.one", "lnkd.in", "qr.ae", "soo.gd",
        "x.co", "po.st", "mcaf.ee", "su.pr", "adf.ly", "shorte.st", "clck.ru", "u.to",
        "trib.al", "dlvr.it", "snip.ly", "urlz.fr", "linktr.ee",
    }
)  # fmt: skip

# Terms match whole words or phrases, case-insensitively, with an optional plural "s"/"es";
# spaces and hyphens inside a term match any run of spaces or hyphens ("e-cig" ~ "e cig").
# Deliberately absent because ordinary messages use them: "pot", "weed" (lawn care), "gun"
# alone (glue/nail/massage guns), "bet" ("you bet"), "slots" (time slots), "shots", "sake",
# "nude" (a colour), "jackpot". Slurs are left to each deployment's configured list.
DEFAULT_PROHIBITED_TERMS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "sex": (
            "sex", "sexy", "porn", "porno", "pornography", "xxx", "nudes", "erotic",
            "escort service", "adult entertainment", "strip club", "onlyfans",
        ),
        "hate": ("white power", "white pride", "race war", "heil hitler"),
        "alcohol": (
            "alcohol", "beer", "wine", "liquor", "vodka", "whiskey", "whisky", "bourbon",
            "tequila", "rum", "brewery", "winery", "happy hour", "open bar", "booze",
            "margarita", "mimosa",
        ),
        "firearms": (
            "firearm", "handgun", "rifle", "shotgun", "pistol", "ammo", "ammunition",
            "ar-15", "glock", "gun show", "gun shop", "gun store", "gun range",
            "concealed carry",
        ),
        "tobacco": (
            "tobacco", "cigarette", "cigar", "cigarillo", "vape", "vaping", "e-cig",
            "e-cigarette", "e-liquid", "juul", "nicotine", "hookah", "snus",
        ),
        "cannabis": (
            "cannabis", "marijuana", "cbd", "thc", "delta-8", "delta-9", "hemp",
            "dispensary", "edibles", "pre-roll", "kush",
        ),
        "high_risk_finance": (
            "payday loan", "cash advance", "title loan", "debt relief", "debt consolidation",
            "debt settlement", "credit repair", "fix your credit", "no credit check",
            "crypto", "cryptocurrency", "bitcoin", "ethereum", "forex",
            "student loan forgiveness",
        ),
        "gambling": (
            "casino", "gambling", "gamble", "sports betting", "sportsbook", "poker",
            "slot machine", "lottery", "wager", "parlay", "blackjack", "roulette", "free bet",
        ),
        "lead_generation": (
            "lead generation", "our partners will contact you", "marketing partners",
            "affiliate partners", "share your information with",
        ),
    }
)  # fmt: skip

# SHAFT categories that carriers allow behind an age gate; hate, cannabis and the rest never.
DEFAULT_AGE_GATED_CATEGORIES: frozenset[str] = frozenset({"alcohol", "firearms", "tobacco"})

DEFAULT_TOKEN_MAX_LENGTHS: Mapping[str, int] = MappingProxyType(
    # A preference link: the public base URL, /preferences/ and a signed token (~60 chars).
    {"first_name": 12, "last_name": 16, "email": 32, "phone": 12, "preferences_url": 100}
)


@dataclass(frozen=True)
class CheckConfig:
    """What the checks need to know about the program and the organization.

    `brand_name` blank skips the brand check. `allowed_link_domains` empty means no link is
    allowed: configure the branded domains first. Domains match themselves and their
    subdomains. `token_max_lengths` gives the longest plausible value per token name;
    other tokens use `default_token_length` (date formats use their own longest output).
    """

    brand_name: str = ""
    brand_aliases: tuple[str, ...] = ()
    is_marketing_or_first_contact: bool = True
    allowed_link_domains: Collection[str] = frozenset()
    shorteners: Collection[str] = DEFAULT_SHORTENERS
    prohibited_terms: Mapping[str, Collection[str]] = field(
        default_factory=lambda: DEFAULT_PROHIBITED_TERMS
    )
    age_gated: bool = False
    age_gated_categories: Collection[str] = DEFAULT_AGE_GATED_CATEGORIES
    max_segments: int = 2
    smart_encoding: bool = False
    token_max_lengths: Mapping[str, int] = field(default_factory=lambda: DEFAULT_TOKEN_MAX_LENGTHS)
    default_token_length: int = 20
    token_registry: TokenRegistry = KNOWN_TOKENS
    all_caps_min_letters: int = 20
    all_caps_ratio: float = 0.6


class SegmentInfo(Protocol):
    """The part of `templates.encoding.analyze`'s result these checks use."""

    @property
    def encoding(self) -> object: ...

    @property
    def segments(self) -> int: ...


Analyzer = Callable[..., SegmentInfo]


def _block(code: Code, message: str, matched: Iterable[str] = ()) -> Finding:
    return Finding(code, Severity.BLOCK, message, tuple(matched))


def _warn(code: Code, message: str, matched: Iterable[str] = ()) -> Finding:
    return Finding(code, Severity.WARN, message, tuple(matched))


def has_blockers(findings: Iterable[Finding]) -> bool:
    """True if any finding blocks approval."""
    return any(f.severity == Severity.BLOCK for f in findings)


def run_checks(
    body: str, config: CheckConfig | None = None, *, analyze: Analyzer | None = None
) -> list[Finding]:
    """Every finding for `body`, in a stable order (template, compliance, links, content,
    data loss, then style). `analyze` defaults to `templates.encoding.analyze`, imported on
    first use; pass one to check without it.
    """
    config = config or CheckConfig()
    findings = check_template(body, config)
    for check in (
        check_opt_out_language,
        check_brand_name,
        check_links,
        check_prohibited_content,
        check_data_loss,
    ):
        findings += check(body, config)
    findings += check_segments(body, config, analyze=analyze)
    findings += check_all_caps(body, config)
    findings += check_spammy_punctuation(body, config)
    return findings


# -- template ----------------------------------------------------------------------------


def check_template(body: str, config: CheckConfig) -> list[Finding]:
    """`unknown_token` or `template_syntax_error` when the body does not compile."""
    try:
        compile_template(body, config.token_registry)
    except UnknownTokenError as exc:
        return [_block(Code.UNKNOWN_TOKEN, str(exc), exc.tokens)]
    except TemplateSyntaxError as exc:
        return [_block(Code.TEMPLATE_SYNTAX_ERROR, str(exc))]
    return []


# -- compliance language -----------------------------------------------------------------

_EN_VERB = r"(?i:reply|respond|text|txt|send)\s+(?:(?i:with)\s+)?[\"'\u201c\u2018]?"
_ES_VERB = (
    r"(?i:responde|responda|respondé|envía|envia|envíe|envie|manda|mande|textea|escribe"
    r"|escriba)\s+(?:(?i:con)\s+)?[\"'\u201c\u2018]?"
)
_TO_LEAVE = r"\s*(?i:to|2)\s*(?i:opt[\s-]*out|end|cancel|unsubscribe|unsub|quit|stop|be\s+removed)"
# STOP may be written in any case; the other keywords only count in capitals, because "end",
# "cancel" or the Spanish "alto" ("tall") are everyday words.
_OPT_OUT = re.compile(
    rf"""
      \b{_EN_VERB}(?i:stop)\b
    | \b{_EN_VERB}(?:END|CANCEL|UNSUBSCRIBE|QUIT|STOPALL|OPTOUT)\b
    | \b(?i:stop){_TO_LEAVE}
    | \b(?:END|CANCEL|UNSUBSCRIBE|QUIT|STOPALL|OPTOUT){_TO_LEAVE}
    | \b{_ES_VERB}(?:ALTO|BAJA|PARAR|CANCELAR|(?i:stop))\b
    | \b(?:ALTO|BAJA|PARAR|CANCELAR|STOP)\s+(?i:para)\b
    """,
    re.VERBOSE,
)


def check_opt_out_language(body: str, config: CheckConfig) -> list[Finding]:
    """`missing_opt_out_language` for marketing and first-contact messages without an
    opt-out instruction ("Reply STOP to opt out", "STOP to end", "Txt STOP", "Responde ALTO").
    """
    if not config.is_marketing_or_first_contact or _OPT_OUT.search(body):
        return []
    message = (
        "Marketing and first-contact messages must say how to opt out: 'Reply STOP to opt out'."
    )
    return [_block(Code.MISSING_OPT_OUT_LANGUAGE, message)]


def check_brand_name(body: str, config: CheckConfig) -> list[Finding]:
    """`missing_brand_name` when neither the brand name nor an alias appears as a word."""
    names = [n.strip() for n in (config.brand_name, *config.brand_aliases) if n.strip()]
    if not names:
        return []
    for name in names:
        words = r"\s+".join(re.escape(w) for w in name.split())
        if re.search(rf"(?<!\w){words}(?!\w)", body, re.IGNORECASE):
            return []
    return [_block(Code.MISSING_BRAND_NAME, f"Name the sender: include '{names[0]}'.")]


# -- links -------------------------------------------------------------------------------

_SCHEME_URL = re.compile(r"\bhttps?://[^\s<>\"'\u201c\u201d\u2018\u2019]+", re.IGNORECASE)
# A bare domain is a link when its top-level domain is a common one or a path follows it, so
# "acme.co/x" and "bit.ly" count but "Mr.Smith" and "e.g." do not.
_BARE_DOMAIN = re.compile(
    r"(?<![\w@./:-])((?:[a-z0-9-]+\.)+([a-z]{2,24}))(?![\w-])(/[^\s<>\"'\u201c\u201d\u2018\u2019]*)?",
    re.IGNORECASE,
)
_COMMON_TLDS = frozenset({
    "com", "net", "org", "edu", "gov", "mil", "int", "info", "biz", "io", "co", "us", "ly",
    "gl", "gd", "at", "id", "cc", "me", "ai", "app", "dev", "link", "site", "online",
    "store", "shop", "xyz", "club", "page", "live", "tv", "to", "ws", "so", "la", "im", "be",
    "de", "uk", "ca", "mx", "es", "fr", "it", "nl", "br", "in", "au", "nz", "ie", "eu", "ch",
    "se", "no", "fi", "dk", "pl", "ru", "cn", "jp", "kr", "sg", "hk", "tk", "ml", "ga", "cf",
    "gq", "top", "click", "bio", "pro", "ee", "ae", "st", "fm", "one", "ink",
})  # fmt: skip
_TRAILING_PUNCTUATION = ".,;:!?)]}>'\"\u00bb\u201d\u2019"


def _links(body: str) -> list[tuple[str, str, bool]]:
    """(link as written, lowercase host, uses plain http) for every link, in order."""
    found: list[tuple[int, str, str, bool]] = []
    rest = list(body)
    for match in _SCHEME_URL.finditer(body):
        text = match.group().rstrip(_TRAILING_PUNCTUATION)
        try:
            host = urlsplit(text).hostname or ""
        except ValueError:  # malformed, e.g. an unclosed IPv6 bracket
            host = ""
        found.append((match.start(), text, host, text[:5].lower() == "http:"))
        # Blank the URL out so its host is not found again as a bare domain.
        rest[match.start() : match.end()] = " " * (match.end() - match.start())
    for match in _BARE_DOMAIN.finditer("".join(rest)):
        domain, tld, path = match.groups()
        if tld.lower() in _COMMON_TLDS or path:
            text = match.group().rstrip(_TRAILING_PUNCTUATION)
            found.append((match.start(), text, domain.lower(), False))
    found.sort()
    return [(text, host.rstrip("."), insecure) for _, text, host, insecure in found]


def _on_domain(host: str, domains: Iterable[str]) -> bool:
    for domain in domains:
        domain = domain.strip().lower().removeprefix("*.").strip(".")
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


def check_links(body: str, config: CheckConfig) -> list[Finding]:
    """`public_shortener`, `link_domain_not_allowed` and `insecure_link`.

    A shortener link is reported as such and not again as a disallowed domain; shorteners
    are blocked even when someone lists them as allowed.
    """
    shortened: list[str] = []
    foreign: list[str] = []
    foreign_hosts: list[str] = []
    insecure: list[str] = []
    for text, host, is_http in _links(body):
        if _on_domain(host, config.shorteners):
            shortened.append(text)
        elif not _on_domain(host, config.allowed_link_domains):
            foreign.append(text)
            foreign_hosts.append(host or text)
        if is_http:
            insecure.append(text)
    findings: list[Finding] = []
    if shortened:
        message = "Carriers filter public URL shorteners: use a branded domain you control."
        findings.append(_block(Code.PUBLIC_SHORTENER, message, shortened))
    if foreign:
        allowed = ", ".join(sorted(config.allowed_link_domains)) or "none configured"
        hosts = ", ".join(dict.fromkeys(foreign_hosts))
        message = f"Links must use an allowed branded domain ({allowed}); found {hosts}."
        findings.append(_block(Code.LINK_DOMAIN_NOT_ALLOWED, message, foreign))
    if insecure:
        findings.append(_warn(Code.INSECURE_LINK, "Use https:// links.", insecure))
    return findings


# -- prohibited content ------------------------------------------------------------------


@lru_cache(maxsize=64)
def _term_pattern(terms: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = []
    # Longest first, so the reported match is the whole phrase.
    for term in sorted({t.strip().lower() for t in terms if t.strip()}, key=len, reverse=True):
        words = re.split(r"[\s-]+", term)
        alternatives.append(r"[\s-]*".join(re.escape(w) for w in words))
    if not alternatives:
        return re.compile(r"(?!)")  # matches nothing
    return re.compile(rf"(?<!\w)(?:{'|'.join(alternatives)})(?:e?s)?(?!\w)", re.IGNORECASE)


def check_prohibited_content(body: str, config: CheckConfig) -> list[Finding]:
    """`prohibited_content`, one finding per category, naming the words found.

    Blocks, except that a category in `age_gated_categories` only warns when the program is
    age-gated.
    """
    findings: list[Finding] = []
    for category, terms in config.prohibited_terms.items():
        found: dict[str, str] = {}
        for match in _term_pattern(tuple(terms)).finditer(body):
            found.setdefault(match.group().lower(), match.group())
        if not found:
            continue
        gated = config.age_gated and category in config.age_gated_categories
        label = category.replace("_", " ")
        message = (
            f"Age-gated content ({label}): allowed only behind the program's age gate."
            if gated
            else f"Prohibited content ({label}) is filtered by carriers."
        )
        make = _warn if gated else _block
        findings.append(make(Code.PROHIBITED_CONTENT, message, found.values()))
    return findings


# -- data-loss prevention ----------------------------------------------------------------

# Digit groups joined by single spaces or dashes; a leading "+" marks a phone number.
_DIGIT_RUN = re.compile(r"(?<![\d+])\d+(?:[ -]\d+)*(?!\d)")
_SSN = re.compile(r"(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])")
_SECRETS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "password",
        re.compile(r"\b(?:password|passwd|pwd)\s*[:=]\s*(?!https?://|www\.)(\S+)", re.I),
    ),
    ("Stripe secret key", re.compile(r"\b([sr]k_(?:live|test)_[0-9A-Za-z]{16,})")),
    ("AWS access key", re.compile(r"\b((?:AKIA|ASIA)[0-9A-Z]{16})\b")),
    ("GitHub token", re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,})")),
    ("Slack token", re.compile(r"\b(xox[abprs]-[A-Za-z0-9-]{10,})")),
    ("Google API key", re.compile(r"\b(AIza[0-9A-Za-z_-]{35})")),
    ("private key", re.compile(r"(-----BEGIN [A-Z ]*PRIVATE KEY-----)")),
    (
        "API key",
        re.compile(r"\b(?:api[_ -]?key|secret|access[_ -]?token)\s*[:=]\s*([\w-]{16,})", re.I),
    ),
)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _card_numbers(body: str) -> list[str]:
    """Luhn-valid 13-19 digit spans, starting on a digit group, whose first digit is a
    payment-card industry (2-6): that leaves out "0000 0000 0000 0000" and most order ids.
    """
    found: list[str] = []
    for match in _DIGIT_RUN.finditer(body):
        groups = re.split(r"[ -]", match.group())
        start = 0
        while start < len(groups):
            length = 0
            for end in range(start, len(groups)):
                length += len(groups[end])
                if length > 19:
                    break
                digits = "".join(groups[start : end + 1])
                if length >= 13 and digits[0] in "23456" and _luhn_ok(digits):
                    found.append(digits)
                    start = end
                    break
            start += 1
    return found


def check_data_loss(body: str, config: CheckConfig) -> list[Finding]:
    """`card_number`, `ssn` and `secret`. `matched` is masked: a finding must not leak
    the value it protects into logs or the admin.
    """
    findings: list[Finding] = []
    cards = [f"****{digits[-4:]}" for digits in _card_numbers(body)]
    if cards:
        findings.append(_block(Code.CARD_NUMBER, "Never send a payment card number.", cards))
    ssns = [
        f"***-**-{serial}"
        for area, _sep, group, serial in _SSN.findall(body)
        if area != "000" and area != "666" and area[0] != "9" and group != "00" and serial != "0000"
    ]
    if ssns:
        findings.append(_block(Code.SSN, "Never send a Social Security number.", ssns))
    secrets = [
        f"{label}: {_mask(match.group(1), keep=0 if label == 'password' else 4)}"
        for label, pattern in _SECRETS
        for match in pattern.finditer(body)
    ]
    if secrets:
        message = "This looks like a password or an access key: never send secrets."
        findings.append(_block(Code.SECRET, message, secrets))
    return findings


def _mask(value: str, *, keep: int) -> str:
    return value[:keep] + "…"


# -- length and style --------------------------------------------------------------------


def _default_analyzer() -> Analyzer:
    return analyze


def check_segments(
    body: str, config: CheckConfig, *, analyze: Analyzer | None = None
) -> list[Finding]:
    """`too_many_segments` when the body, tokens at their shortest (defaults or nothing), is
    over `max_segments`; `token_may_add_segment` when tokens at their longest
    (`token_max_lengths`) need more segments than that. Nothing for a body that does not
    compile: `check_template` reports it.
    """
    try:
        template: CompiledTemplate = compile_template(body, config.token_registry)
    except TemplateSyntaxError:
        return []
    analyze = analyze or _default_analyzer()
    shortest = analyze(template.shortest_text(), smart_encoding=config.smart_encoding)
    findings: list[Finding] = []
    if shortest.segments > config.max_segments:
        message = (
            f"{shortest.segments} segments ({shortest.encoding}) even with short values; "
            f"keep to {config.max_segments}: each segment is billed."
        )
        findings.append(_warn(Code.TOO_MANY_SEGMENTS, message))
    if template.tokens:
        longest_text = template.worst_case_text(
            config.token_max_lengths, default_length=config.default_token_length
        )
        longest = analyze(longest_text, smart_encoding=config.smart_encoding)
        if longest.segments > shortest.segments:
            message = (
                f"Long values for {', '.join(template.tokens)} make this {longest.segments} "
                f"segments instead of {shortest.segments}."
            )
            findings.append(_warn(Code.TOKEN_MAY_ADD_SEGMENT, message, template.tokens))
    return findings


_TOKEN_OR_LINK = re.compile(r"\{[^{}]*\}|\bhttps?://\S+", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+")
# Keywords are capitalised by convention; counting them would punish the compliance footer.
_KEYWORDS = frozenset({
    "STOP", "STOPALL", "END", "CANCEL", "UNSUBSCRIBE", "QUIT", "OPTOUT", "REVOKE", "HELP",
    "INFO", "START", "UNSTOP", "YES", "ALTO", "PARAR", "CANCELAR", "BAJA", "AYUDA",
})  # fmt: skip


def check_all_caps(body: str, config: CheckConfig) -> list[Finding]:
    """`all_caps` when, over at least `all_caps_min_letters` letters, the share of capitals
    reaches `all_caps_ratio`. Tokens, links, keywords and the brand name are not counted.
    """
    brand_words = {w.upper() for n in (config.brand_name, *config.brand_aliases) for w in n.split()}
    upper = letters = 0
    shouted: dict[str, None] = {}
    for word in _WORD.findall(_TOKEN_OR_LINK.sub(" ", body)):
        if word in _KEYWORDS or word.upper() in brand_words:
            continue
        letters += len(word)
        caps = sum(1 for c in word if c.isupper())
        upper += caps
        if caps == len(word) and len(word) > 1:
            shouted[word] = None
    if letters < config.all_caps_min_letters or upper < config.all_caps_ratio * letters:
        return []
    message = f"{upper * 100 // letters}% capital letters reads as shouting and looks like spam."
    return [_warn(Code.ALL_CAPS, message, list(shouted)[:10])]


_SPAMMY = re.compile(r"[!?]{3,}|\${3,}")


def check_spammy_punctuation(body: str, config: CheckConfig) -> list[Finding]:
    """`spammy_punctuation` for runs like "!!!", "???", "?!?" or "$$$"."""
    runs = tuple(dict.fromkeys(_SPAMMY.findall(body)))
    if not runs:
        return []
    message = "Repeated punctuation looks like spam to carrier filters."
    return [_warn(Code.SPAMMY_PUNCTUATION, message, runs)]
