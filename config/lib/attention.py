"""What needs a person now: a small registry of "attention" providers for the home page.

A provider is a function `provider(request) -> list[AttentionItem]`, registered with
`@attention_provider(order=...)` in an `attention.py` module of any installed app; those modules
are imported once, the first time the home page asks (like `admin.py` for the admin). A provider
decides itself what the staff member may see (`request.user.has_perm(...)`) and returns nothing
otherwise. It must stay cheap on big tables: indexed, bounded queries (`bounded_count`), never a
COUNT(*) over a whole table. A later feature (program reviews due, incidents, alerts) adds its own
provider module; the home page does not change.

This module imports no app of the project, so every app may register here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.module_loading import autodiscover_modules

logger = logging.getLogger(__name__)

#: Counts on the home page stop here ("1,000+"): a person needs "many", not the exact figure.
COUNT_CAP = 1000


@dataclass(frozen=True)
class AttentionItem:
    """One line of "what needs me now": `count` things, a link to them and a few words why."""

    title: str
    count: int
    url: str = ""
    detail: str = ""
    severity: str = "info"  # "info", "warning" (due soon, held) or "urgent" (overdue, failing)
    capped: bool = False  # count stopped at the cap: "1,000+"
    lines: tuple[str, ...] = field(default_factory=tuple)  # short breakdown (held by reason)

    @property
    def shown_count(self) -> str:
        return f"{self.count:,}+" if self.capped else f"{self.count:,}"


Provider = Callable[[HttpRequest], list[AttentionItem]]
_providers: list[tuple[int, str, Provider]] = []
_discovered = False


def attention_provider(*, order: int = 100) -> Callable[[Provider], Provider]:
    """Register a provider; lower `order` shows first."""

    def register(provider: Provider) -> Provider:
        name = f"{provider.__module__}.{provider.__qualname__}"
        if all(existing != name for _, existing, _ in _providers):
            _providers.append((order, name, provider))
            _providers.sort(key=lambda entry: (entry[0], entry[1]))
        return provider

    return register


def unregister(provider: Provider) -> None:
    """Remove a provider (tests)."""
    _providers[:] = [entry for entry in _providers if entry[2] is not provider]


def bounded_count(qs: QuerySet, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """(count, capped): rows of `qs`, counting no further than `cap`."""
    n = qs.order_by().values("pk")[: cap + 1].count()
    return min(n, cap), n > cap


def attention_items(request: HttpRequest) -> list[AttentionItem]:
    """Every provider's items for this request, in order; items with nothing to do left out."""
    global _discovered
    if not _discovered:
        autodiscover_modules("attention")
        _discovered = True
    items: list[AttentionItem] = []
    for _, name, provider in list(_providers):
        try:
            items.extend(item for item in provider(request) if item.count or item.lines)
        except Exception:  # one broken provider must not take the home page down
            logger.exception("Attention provider %s failed", name)
    return items
