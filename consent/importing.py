"""Importing a consent file in batches: the path `import_consent` and the admin's import job take.

Each row is read and checked exactly as `consent.resources.ConsentImportResource` checks it (its
`plan_row`), with the same rules afterwards: a row already in the ledger (by its idempotency
key) or repeated in the file is skipped, a number erased on request is refused, and the good
rows are recorded through `consent.services.consent_opt_in_many`, the batched form of the
per-row service, in one transaction per batch of `IMPORT_BATCH_ROWS` rows. A long import
therefore holds each contact's lock for one batch at most, commits what it has done, and a
re-run after a failure skips what was already recorded. A dry run does the same work and rolls
every batch back.

Memory stays flat: rows are read from an iterator, one batch at a time; only a dry run keeps
the keys it has seen (a real import finds them in the ledger).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

import tablib
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction

from . import services
from .models import ConsentEvent, ConsentMethod, Suppression, SuppressionReason
from .phones import phone_hash
from .resources import _COLUMN_OF_CODE, _COLUMN_OF_FIELD, ConsentImportResource, RowPlan


@dataclass(frozen=True)
class Rejected:
    """A row that was not recorded: its number as a spreadsheet shows it, and why."""

    line: int
    reasons: list[str]

    def __str__(self) -> str:
        return f"row {self.line}: " + "; ".join(r.rstrip(".") for r in self.reasons)


@dataclass(frozen=True)
class Recorded:
    """A row recorded (or, in a dry run, that would be): what the preview shows."""

    line: int
    phone: str
    program: str
    occurred_at: datetime
    kind: str
    status: str
    created: bool


@dataclass
class BatchReport:
    """What one batch did; the import's totals are the sums of these."""

    total: int = 0
    new: int = 0
    skip: int = 0
    invalid: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    recorded: list[Recorded] = field(default_factory=list)


@dataclass
class ImportTotals:
    total: int = 0
    new: int = 0
    skip: int = 0
    invalid: int = 0

    def add(self, batch: BatchReport) -> None:
        self.total += batch.total
        self.new += batch.new
        self.skip += batch.skip
        self.invalid += batch.invalid


class _RolledBack(Exception):
    """Leaves a dry-run batch's transaction, undoing its writes."""


def _reasons(error: ValidationError) -> list[str]:
    return [
        (f"{column}: " if column != NON_FIELD_ERRORS else "") + str(message)
        for column, errors in error.error_dict.items()
        for message in ValidationError(errors).messages
    ]


class BatchImport:
    """One file's import. `header` is the file's first row; `run(rows)` imports
    (line number, cells) pairs and calls `on_batch(report)` after each committed batch."""

    def __init__(
        self,
        *,
        header: list[str],
        file_name: str,
        dry_run: bool = False,
        user=None,
        recorded_by_label: str = "import",
        batch_rows: int | None = None,
    ) -> None:
        self.resource = ConsentImportResource(recorded_by_label=recorded_by_label)
        dataset = tablib.Dataset(headers=list(header))
        # Lower-cases the header, loads programs and disclosures, refuses missing columns
        # (ValueError with a readable message).
        self.resource.before_import(dataset, file_name=file_name, user=user)
        self.header = dataset.headers
        self.file_name = file_name
        self.dry_run = dry_run
        self.user = user if getattr(user, "pk", None) else None
        self.recorded_by_label = recorded_by_label
        self.batch_rows = batch_rows or settings.IMPORT_BATCH_ROWS
        self._seen: set[str] = set()  # a dry run's recorded keys (a real run finds the ledger's)

    def run(
        self,
        rows: Iterable[tuple[int, list[Any]]],
        on_batch: Callable[[BatchReport], None] | None = None,
    ) -> ImportTotals:
        totals = ImportTotals()
        iterator: Iterator = iter(rows)
        while batch := list(islice(iterator, self.batch_rows)):
            report = self.import_batch(batch)
            totals.add(report)
            if on_batch:
                on_batch(report)
        return totals

    def import_batch(self, batch: list[tuple[int, list[Any]]]) -> BatchReport:
        report = BatchReport(total=len(batch))
        plans: list[RowPlan] = []
        for line, cells in batch:
            try:
                plans.append(
                    self.resource.plan_row(dict(zip(self.header, cells, strict=False)), line=line)
                )
            except ValidationError as exc:
                report.rejected.append(Rejected(line, _reasons(exc)))
        keys = [p.key for p in plans]
        known = self._seen | set(
            ConsentEvent.objects.filter(idempotency_key__in=keys).values_list(
                "idempotency_key", flat=True
            )
        )
        fresh = [plan for plan in plans if plan.key not in known]
        report.skip = len(plans) - len(fresh)
        try:
            with transaction.atomic():
                self._record(fresh, report)
                if self.dry_run:
                    raise _RolledBack
        except _RolledBack:
            pass
        report.invalid = len(report.rejected)
        report.rejected.sort(key=lambda r: r.line)
        return report

    def _record(self, plans: list[RowPlan], report: BatchReport) -> None:
        erased = set(
            Suppression.objects.filter(
                phone_hash__in={phone_hash(p.phone) for p in plans},
                reason=SuppressionReason.LEGAL_REQUEST,
                lifted_at__isnull=True,
            ).values_list("phone_hash", flat=True)
        )
        allowed = []
        for plan in plans:
            if phone_hash(plan.phone) in erased:
                # Re-importing an old list must not bring back a person who asked to be erased.
                reason = f"phone: “{plan.phone}” is suppressed on a legal or privacy request."
                report.rejected.append(Rejected(plan.line, [reason]))
            else:
                allowed.append(plan)
        answers = services.consent_opt_in_many(
            opt_ins=[
                services.OptIn(
                    phone=plan.phone,
                    program=plan.program,
                    source=f"{self.resource._file_label} row {plan.line}",
                    occurred_at=plan.occurred_at,
                    disclosure=plan.disclosure,
                    evidence=plan.evidence,
                    idempotency_key=plan.key,
                    contact_fields=plan.contact_fields,
                )
                for plan in allowed
            ],
            method=ConsentMethod.IMPORT,
            recorded_by=self.user,
            recorded_by_label=self.recorded_by_label,
        )
        for plan, answer in zip(allowed, answers, strict=True):
            if isinstance(answer, services.ConsentError):
                if answer.field:
                    column = _COLUMN_OF_FIELD.get(answer.field, answer.field)
                else:
                    column = _COLUMN_OF_CODE.get(answer.code, NON_FIELD_ERRORS)
                prefix = f"{column}: " if column != NON_FIELD_ERRORS else ""
                report.rejected.append(Rejected(plan.line, [prefix + str(answer)]))
                continue
            if answer.created:
                report.new += 1
                if self.dry_run:
                    self._seen.add(plan.key)
            else:
                report.skip += 1
            event = answer.event
            report.recorded.append(
                Recorded(
                    line=plan.line,
                    phone=plan.phone,
                    program=plan.program.slug,
                    occurred_at=plan.occurred_at,
                    kind=event.kind,
                    status=event.resulting_status,
                    created=answer.created,
                )
            )
