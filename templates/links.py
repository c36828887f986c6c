"""Which links in a body a tracked send replaces, and how long the body is once they are.

Only links written out with their scheme (``https://shop.acme.example/sale``) on an allowed
link domain (subdomains included) are tracked; a link already on the short-link domain, or one
whose address a token fills in part, is left as written. The short link itself is made when
the message is (messaging/links.py); here a stand-in of the same typical length lets the editor
and the API preview count segments as the message will be sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "PREVIEW_CODE_LENGTH",
    "short_link_stand_in",
    "shortened_for_count",
    "tracked_links",
]

_URL = re.compile(r"https?://[^\s<>\"'{}\u201c\u201d\u2018\u2019]+", re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,;:!?)]}>'\"\u00bb\u201d\u2019"
#: A typical code: 7 hex digits of message id, a separator, 2 of link id, a 10-digit tag.
PREVIEW_CODE_LENGTH = 20


def _host(url: str) -> str:
    rest = url.split("://", 1)[1]
    host = re.split(r"[/?#]", rest, maxsplit=1)[0]
    return host.rsplit("@", 1)[-1].split(":", 1)[0].lower().rstrip(".")


def _on_domain(host: str, domains: Iterable[str]) -> bool:
    for domain in domains:
        domain = domain.strip().lower().removeprefix("*.").strip(".")
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


def tracked_links(text: str, allowed: Iterable[str], link_domain: str) -> list[tuple[int, int]]:
    """(start, end) of every link in `text` a tracked send replaces, in order.

    A link touching a token brace (``https://x.example/{attr.id}``) is not whole text and is
    left alone, as is any link on `link_domain` itself.
    """
    allowed = tuple(allowed)
    link_domain = link_domain.lower()
    spans = []
    for match in _URL.finditer(text):
        url = match.group().rstrip(_TRAILING_PUNCTUATION)
        end = match.start() + len(url)
        if end < len(text) and text[end] == "{":
            continue
        host = _host(url)
        if not host or host == link_domain or not _on_domain(host, allowed):
            continue
        spans.append((match.start(), end))
    return spans


def short_link_stand_in(link_domain: str) -> str:
    return f"https://{link_domain}/" + "x" * PREVIEW_CODE_LENGTH


def shortened_for_count(text: str, allowed: Iterable[str], link_domain: str) -> str:
    """`text` with each tracked link replaced by a short link of typical length."""
    stand_in = short_link_stand_in(link_domain)
    out, last = [], 0
    for start, end in tracked_links(text, allowed, link_domain):
        out += [text[last:start], stand_in]
        last = end
    out.append(text[last:])
    return "".join(out)
