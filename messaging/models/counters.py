"""Daily counters: what reports read instead of scanning messages.

One row says "on `day`, the `scope` object `key` gained `count` of `metric`". Rows are
insert-only where the event happens (`messaging.counters.bump`), so concurrent writers never
wait on each other's row lock; `messaging.counters.squash` periodically folds the unsquashed
rows of each (day, scope, key, metric) into the one squashed row, which a partial unique index
keeps single. A report sums every row of its key: squashed or not, the total is the same.

`key` is the id of the object the row counts for (a program, campaign, flow, template version,
variant or sender), stored without a foreign key: messaging counts for campaigns and flows
without importing them, and counters outlive nothing they point at (those rows are never
deleted).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class CounterScope(models.TextChoices):
    PROGRAM = "program", "Program"
    CAMPAIGN = "campaign", "Campaign"
    FLOW = "flow", "Flow"
    TEMPLATE_VERSION = "template_version", "Template version"
    VARIANT = "variant", "Variant"
    SENDER = "sender", "Sender"


class DailyCount(models.Model):
    """A count of one metric for one object on one UTC day (see the module docstring)."""

    day = models.DateField()
    scope = models.CharField(max_length=16, choices=CounterScope.choices)
    key = models.BigIntegerField(help_text="The id of the counted object.")
    metric = models.CharField(max_length=40)
    count = models.BigIntegerField()
    is_squashed = models.BooleanField(default=False)

    class Meta:
        indexes = [
            # Every report: one object (or all of a scope) over a range of days.
            models.Index(fields=["scope", "key", "day"], name="dailycount_read"),
            # The squash's work list: only rows not yet folded.
            models.Index(
                fields=["day", "scope", "key", "metric"],
                condition=Q(is_squashed=False),
                name="dailycount_unsquashed",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "scope", "key", "metric"],
                condition=Q(is_squashed=True),
                name="dailycount_one_squashed_row",
            ),
            models.CheckConstraint(
                condition=Q(scope__in=CounterScope.values), name="dailycount_scope_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.scope}:{self.key} {self.metric}={self.count}"
