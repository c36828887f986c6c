"""Branded short links: made per recipient at hand-off, answered with a 302, each hit a click.

A short link is ``https://<SMS_LINK_DOMAIN>/<code>``; the code names the message it went out in
and its `TrackedLink`, and is signed::

    code = <message id, hex> "z" <link id, hex> <tag: 10 hex digits>
    tag  = SHA-256(key || link id || message id), as 8-byte big-endian integers: its first
           5 bytes in hex

`key` is derived from SECRET_KEY; the tag is a truncated digest of a fixed-length input, so it
cannot be extended or moved to another message or link, and a guess is right once in 2**40.

Dispatch puts the short links into each message it is about to hand off (`LinkMaker`), so one
rule serves every send path and fan-out's INSERT writes bodies as rendered. Before hand-off
segments are counted with short links of a typical length (`body_for_count`). The redirect is
`ShortLinkMiddleware` (first in the stack: a Host of SMS_LINK_DOMAIN, or ``/l/<code>`` on any
host) and `click_record`: one statement looks the message and link up by primary key and
inserts the click with its bot label.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound, HttpResponseRedirect
from django.utils import timezone
from django.utils.text import slugify

from consent.models import Program
from templates.links import shortened_for_count, tracked_links
from templates.models import TemplateVersion

from . import counters, sql
from .models import BotReason, Click, OutboundMessage, TrackedLink

__all__ = [
    "LinkMaker",
    "ShortLinkMiddleware",
    "body_for_count",
    "bot_reason_for",
    "click_record",
    "counted_click",
    "link_for",
    "links_written",
    "make_code",
    "parse_code",
    "tracking_on",
]

TAG_LENGTH = 10
SEPARATOR = "z"
_CODE = re.compile(rf"^([0-9a-f]{{1,15}}){SEPARATOR}([0-9a-f]{{1,15}})([0-9a-f]{{{TAG_LENGTH}}})$")


# --- Codes ----------------------------------------------------------------------------------


def _key() -> bytes:
    return hashlib.sha256(b"short-link:" + settings.SECRET_KEY.encode()).digest()


def _signed(link_id: int) -> bytes:
    return _key() + link_id.to_bytes(8, "big", signed=True)


def _tag(message_id: int, link_id: int) -> str:
    digest = hashlib.sha256(_signed(link_id) + message_id.to_bytes(8, "big", signed=True))
    return digest.hexdigest()[:TAG_LENGTH]


def make_code(message_id: int, link_id: int) -> str:
    return f"{message_id:x}{SEPARATOR}{link_id:x}{_tag(message_id, link_id)}"


def parse_code(code: str) -> tuple[int, int] | None:
    """(message id, link id) of a well-formed code with a valid tag; else None."""
    match = _CODE.match(code)
    if match is None:
        return None
    message_id, link_id, tag = int(match[1], 16), int(match[2], 16), match[3]
    if message_id >= 2**63 or link_id >= 2**63:
        return None
    if not hmac.compare_digest(tag, _tag(message_id, link_id)):
        return None
    return message_id, link_id


def short_url(message_id: int, link_id: int) -> str:
    return f"https://{settings.SMS_LINK_DOMAIN}/{make_code(message_id, link_id)}"


# --- Making links ---------------------------------------------------------------------------


def tracking_on(program: Program, campaign=None) -> bool:
    """Does a message of `program` (in `campaign`) get tracked links? The campaign's own choice
    wins when it made one; without a link domain nothing is tracked."""
    if not settings.SMS_LINK_DOMAIN:
        return False
    if campaign is not None and campaign.link_tracking is not None:
        return campaign.link_tracking
    return program.link_tracking


def link_for(
    program: Program, destination: str, *, campaign=None, variant=None, flow=None
) -> TrackedLink:
    """The `TrackedLink` for this destination as this program (campaign variant, flow) sends it."""
    parts = [program.pk, getattr(campaign, "pk", None), getattr(variant, "pk", None),
             getattr(flow, "pk", None), program.link_utm, destination]  # fmt: skip
    key = hashlib.sha256(repr(parts).encode()).hexdigest()
    source = campaign or flow
    link, _ = TrackedLink.objects.get_or_create(
        key=key,
        defaults={
            "program": program,
            "destination": destination,
            "utm": program.link_utm,
            "utm_campaign": slugify(source.name)[:120] if source is not None else program.slug,
            "utm_content": getattr(variant, "label", "")[:40],
            "campaign": campaign,
            "variant": variant,
            "flow": flow,
        },
    )
    return link


def _allowed() -> list[str]:
    return list(settings.SMS_ALLOWED_LINK_DOMAINS)


def links_written(text: str) -> frozenset[str]:
    """The tracked links `text` (a template's source) writes out whole: a link a token fills in
    or extends (``https://x.example/{attr.id}``) is the person's own and is sent as it is."""
    return frozenset(
        text[start:end] for start, end in tracked_links(text, _allowed(), settings.SMS_LINK_DOMAIN)
    )


def body_for_count(program: Program, body: str, *, campaign=None) -> str:
    """`body` as its segments are counted before hand-off: tracked links at a typical short
    length (hand-off stores the real ones and recounts)."""
    if not tracking_on(program, campaign):
        return body
    return shortened_for_count(body, _allowed(), settings.SMS_LINK_DOMAIN)


class LinkMaker:
    """Puts each message's short links into its body just before hand-off.

    Every send path (campaign fan-out, flows, the API, agent replies, test sends) hands off
    through dispatch, which calls `shorten` on each message it is about to send: links are made
    once, by one rule, only for messages that leave; a queued, held or blocked message keeps
    its links as written. Fan-out's INSERT therefore writes the body as rendered and costs
    nothing more for tracking. The sent settle stores the shortened body.

    A message from a template gets short links only for the links its template writes out
    (`links_written`); a message written by hand (an agent's reply) for every tracked link.
    One maker serves one dispatch batch and remembers its `TrackedLink` ids and templates.
    """

    def __init__(self) -> None:
        self._link_ids: dict[tuple, int] = {}
        self._written: dict[int, frozenset[str]] = {}

    def shorten(self, message: OutboundMessage) -> bool:
        """Replace the message's tracked links with its short links, in memory (the sent settle
        stores the body). True when the body changed."""
        if not tracking_on(message.program, message.campaign):
            return False
        body = message.body
        spans = tracked_links(body, _allowed(), settings.SMS_LINK_DOMAIN)
        if spans and message.template_version_id is not None:
            written = self._template_links(message.template_version_id)
            spans = [(start, end) for start, end in spans if body[start:end] in written]
        if not spans:
            return False
        out, last = [], 0
        for start, end in spans:
            link_id = self._link_id(message, body[start:end])
            out += [body[last:start], short_url(message.pk, link_id)]
            last = end
        out.append(body[last:])
        message.body = "".join(out)
        return True

    def _template_links(self, version_id: int) -> frozenset[str]:
        if version_id not in self._written:
            text = TemplateVersion.objects.filter(pk=version_id).values_list("body", flat=True)
            self._written[version_id] = links_written(text.first() or "")
        return self._written[version_id]

    def _link_id(self, message: OutboundMessage, destination: str) -> int:
        key = (message.program_id, message.campaign_id, message.variant_id, message.flow_id,
               destination)  # fmt: skip
        if key not in self._link_ids:
            link = link_for(
                message.program,
                destination,
                campaign=message.campaign,
                variant=message.variant,
                flow=message.flow,
            )
            self._link_ids[key] = link.pk
        return self._link_ids[key]


# --- Clicks ---------------------------------------------------------------------------------

# Link previews (iMessage and Facebook's share as facebookexternalhit), chat apps, search
# engines, mail and URL scanners, and scripts.
_BOT_AGENTS = re.compile(
    r"bot\b|bot/|crawler|spider|preview|facebookexternalhit|facebot|whatsapp|telegram|slack|"
    r"discord|skypeuri|linkedin|embedly|vkshare|pinterest|google-pagerenderer|googleimageproxy|"
    r"proofpoint|mimecast|barracuda|forcepoint|symantec|trend ?micro|urlscan|virustotal|"
    r"headless|phantomjs|python-|curl/|wget/|go-http-client|okhttp|java/|libwww|httpclient",
    re.IGNORECASE,
)
_PREFETCH_HEADERS = ("HTTP_PURPOSE", "HTTP_SEC_PURPOSE", "HTTP_X_PURPOSE", "HTTP_X_MOZ")


def bot_reason_for(method: str, meta: dict) -> str:
    """The label a request earns by itself (timing is the database's to judge); blank: human."""
    if method == "HEAD":
        return BotReason.HEAD
    for header in _PREFETCH_HEADERS:
        value = meta.get(header, "").lower()
        if "prefetch" in value or "preview" in value:
            return BotReason.PREFETCH
    agent = meta.get("HTTP_USER_AGENT", "")
    if not agent.strip() or _BOT_AGENTS.search(agent):
        return BotReason.USER_AGENT
    return ""


@dataclass(frozen=True)
class Hit:
    message_id: int
    link_id: int
    at: object
    ip: str | None
    user_agent: str
    bot_reason: str


@dataclass(frozen=True)
class Redirect:
    destination: str
    click: Click


def counted_click(click: Click) -> None:
    """Count `click` (human or bot) on its message's day and dimensions, in the transaction
    that stored it."""
    message = OutboundMessage.objects.only("sent_at", *counters.MESSAGE_DIMS.values()).get(
        pk=click.message_id
    )
    metric = "clicks_bot" if click.bot_reason else "clicks_human"
    counters.bump(
        day=counters.message_day(message), dims=counters.message_dims(message), **{metric: 1}
    )


def _oldest(at) -> object:
    days = settings.SMS_LINK_MAX_AGE_DAYS
    return at - timedelta(days=days) if days else at.replace(year=1970)


#: The daily counters' scopes as (scope, message field): the click statement counts in each.
_COUNTER_SCOPES = tuple(
    (scope, column.removesuffix("_id")) for scope, column in counters.MESSAGE_DIMS.items()
)


def _record_sql(hit: Hit) -> Redirect | None:
    """One statement: look up, store the click, count it (`sql.click_record_sql`)."""
    params = {
        "link": hit.link_id,
        "message": hit.message_id,
        "oldest": _oldest(hit.at),
        "at": hit.at,
        "ip": hit.ip,
        "ua": hit.user_agent,
        "reason": hit.bot_reason,
        "too_soon": hit.at - timedelta(seconds=settings.SMS_LINK_BOT_SECONDS),
        "repeat": hit.at - timedelta(seconds=settings.SMS_LINK_REPEAT_SECONDS),
        "too_soon_label": BotReason.TOO_SOON.value,
        "repeated_label": BotReason.REPEATED.value,
        "human_metric": "clicks_human",
        "bot_metric": "clicks_bot",
        **{f"scope_{i}": scope for i, (scope, _) in enumerate(_COUNTER_SCOPES)},
    }
    with connection.cursor() as cursor:
        statement = sql.click_record_sql(settings.SMS_LINK_ASYNC_COMMIT, _COUNTER_SCOPES)
        cursor.execute(statement, params)
        row = cursor.fetchone()
    if row is None:
        return None
    destination, utm, utm_campaign, utm_content, pk, contact, campaign, variant, flow = row[:9]
    click = Click(
        pk=pk,
        link_id=hit.link_id,
        message_id=hit.message_id,
        contact_id=contact,
        campaign_id=campaign,
        variant_id=variant,
        flow_id=flow,
        clicked_at=hit.at,
        seconds_since_delivery=row[9],
        ip=hit.ip,
        user_agent=hit.user_agent,
        bot_reason=row[10],
    )
    return Redirect(_with_utm(destination, utm, utm_campaign, utm_content), click)


def _record_orm(hit: Hit) -> Redirect | None:
    """The same as `sql.click_record_sql`, through the ORM (SQLite; tests hold the two equal)."""
    message = (
        OutboundMessage.objects.filter(pk=hit.message_id, created_at__gte=_oldest(hit.at))
        .only("delivered_at", "sent_at", "contact_id", "campaign_id", "variant_id", "program_id")
        .first()
    )
    link = TrackedLink.objects.filter(pk=hit.link_id).first()
    if message is None or link is None or link.program_id != message.program_id:
        return None
    delivered = message.delivered_at or message.sent_at
    reason = hit.bot_reason
    too_soon = hit.at - timedelta(seconds=settings.SMS_LINK_BOT_SECONDS)
    if not reason and delivered is not None and delivered > too_soon:
        reason = BotReason.TOO_SOON
    if not reason:
        recent = hit.at - timedelta(seconds=settings.SMS_LINK_REPEAT_SECONDS)
        if Click.objects.filter(message=message, link=link, clicked_at__gt=recent).exists():
            reason = BotReason.REPEATED
    click = Click.objects.create(
        link=link,
        message_id=message.pk,
        contact_id=message.contact_id,
        campaign_id=message.campaign_id,
        variant_id=message.variant_id,
        flow_id=link.flow_id,
        clicked_at=hit.at,
        seconds_since_delivery=(
            int((hit.at - delivered).total_seconds() // 1) if delivered is not None else None
        ),
        ip=hit.ip,
        user_agent=hit.user_agent,
        bot_reason=reason,
    )
    counted_click(click)
    destination = _with_utm(link.destination, link.utm, link.utm_campaign, link.utm_content)
    return Redirect(destination, click)


def click_record(hit: Hit, *, record: Callable[[Hit], Redirect | None] | None = None):
    """Store the click of a valid code and return where it goes; None for a code of no message
    or link we sent (or an expired one): nothing is stored."""
    record = record or (_record_sql if connection.vendor == "postgresql" else _record_orm)
    if record is _record_sql:
        # One statement is its own transaction: no BEGIN and COMMIT round trips (two of the
        # redirect's four), and its asynchronous commit still applies to it.
        return record(hit)
    with transaction.atomic():
        return record(hit)


def _with_utm(destination: str, utm: bool, campaign: str, content: str) -> str:
    if not utm:
        return destination
    parts = urlsplit(destination)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _ in query}
    extra = [("utm_source", "sms"), ("utm_medium", "sms"), ("utm_campaign", campaign)]
    if content:
        extra.append(("utm_content", content))
    query += [(key, value) for key, value in extra if value and key not in present]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _client_ip(meta: dict) -> str | None:
    value = meta.get("REMOTE_ADDR", "")
    if settings.TRUST_X_FORWARDED_FOR:
        forwarded = meta.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded.strip():
            value = forwarded.split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


NOT_FOUND_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>Link not found</title></head><body><main><h1>Link not found</h1>"
    "<p>This link is not valid or no longer works. Check the message it came in.</p>"
    "</main></body></html>"
)


def redirect_view(request: HttpRequest, code: str) -> HttpResponse:
    """302 to the destination of a code we made (recording the click); a 404 page otherwise."""
    ids = parse_code(code)
    if ids is None:
        return HttpResponseNotFound(NOT_FOUND_PAGE)
    meta = request.META
    hit = Hit(
        message_id=ids[0],
        link_id=ids[1],
        at=timezone.now(),
        ip=_client_ip(meta),
        user_agent=meta.get("HTTP_USER_AGENT", "").replace("\x00", "")[:400],
        bot_reason=bot_reason_for(request.method, meta),
    )
    redirect = click_record(hit)
    if redirect is None:
        return HttpResponseNotFound(NOT_FOUND_PAGE)
    response = HttpResponseRedirect(redirect.destination)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


class ShortLinkMiddleware:
    """Answers short links before anything else runs: every path on the link domain
    (``/<code>``), and ``/l/<code>`` on any host (a single-host set-up)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        host = request.META.get("HTTP_HOST", "").rsplit(":", 1)[0].lower()
        if host and host == settings.SMS_LINK_DOMAIN.lower():
            return redirect_view(request, path[1:])
        if path.startswith("/l/"):
            return redirect_view(request, path[3:])
        return self.get_response(request)
