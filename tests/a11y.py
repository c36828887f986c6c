"""axe-core (WCAG 2.1 A and AA) in the browser tests: the critical and serious violations of a page.

The axe-core script comes from the `axe-playwright-python` package (it ships axe.min.js), so the
audit needs no network. Violations that come from Django's admin markup itself, not ours, are
listed in `DJANGO_ADMIN_KNOWN` with the reason and may be excluded by a test.
"""

from __future__ import annotations

from pathlib import Path

import axe_playwright_python

AXE_SCRIPT = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()

# Rule ids axe reports on Django's own admin chrome (not markup this project writes).
DJANGO_ADMIN_KNOWN: frozenset[str] = frozenset(
    {
        # The admin's breadcrumb links are told apart from the text around them by colour only
        # (Django's base.css, `.breadcrumbs a`).
        "link-in-text-block",
        # The two-box multiple select (filter_horizontal, SelectFilter2.js) puts aria-label on
        # a bare <span class="help-tooltip"> beside its search boxes.
        "aria-prohibited-attr",
    }
)


def axe_violations(
    page, *, include: str | None = None, known: frozenset[str] = frozenset()
) -> list[dict]:
    """Critical and serious WCAG 2.1 A/AA violations on the page, minus the `known` rule ids.

    `include` is a CSS selector that limits the audit to part of the page (our own markup).
    Each item is `{"id", "impact", "help", "targets"}` so a failing assertion reads clearly.
    """
    page.evaluate(AXE_SCRIPT)
    context = f"{{include: [{include!r}]}}" if include else "document"
    options = "{runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}}"
    results = page.evaluate(f"axe.run({context}, {options})")
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "targets": [node["target"] for node in violation["nodes"]][:5],
        }
        for violation in results["violations"]
        if violation["impact"] in ("critical", "serious") and violation["id"] not in known
    ]
