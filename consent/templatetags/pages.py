"""Filters of the public consent pages."""

from __future__ import annotations

import re

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# A web address in disclosure text: with a scheme, or a bare domain followed by a path
# ("acme.example/privacy"), so a reader can follow the privacy policy it names.
_ADDRESS = re.compile(r"\bhttps?://[^\s<>\"']+|\b(?:[a-z0-9-]+\.)+[a-z]{2,}/[^\s<>\"']*", re.I)
_TRAILING = ".,;:!?)"


@register.filter
def link_addresses(text: str) -> SafeString:
    """`text` HTML-escaped, word for word, with its web addresses made links."""
    out: list[str] = []
    position = 0
    for match in _ADDRESS.finditer(text or ""):
        address = match.group(0).rstrip(_TRAILING)
        end = match.start() + len(address)
        href = address if address.lower().startswith("http") else f"https://{address}"
        out += [
            escape(text[position : match.start()]),
            format_html('<a href="{}">{}</a>', href, address),
        ]
        position = end
    out.append(escape((text or "")[position:]))
    return mark_safe("".join(out))  # noqa: S308 (every piece escaped above)
