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

import csv
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import tablib
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from openpyxl import load_workbook

from . import services
from .import_jobs import RUNNING, ImportJob, ImportRejectedRow, ImportStatus
from .models import ConsentEvent, ConsentMethod, Suppression, SuppressionReason
from .phones import phone_hash
from .resources import (
    _COLUMN_OF_CODE,
    _COLUMN_OF_FIELD,
    UNEXPECTED_ERROR,
    ConsentImportResource,
    RowPlan,
)

logger = logging.getLogger(__name__)


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


class ImportFileError(ValueError):
    """The file cannot be read as a consent import; the message says why."""


def read_rows(path: Path, fmt: str | None, stack: ExitStack) -> tuple[list[str], Iterator]:
    """The header and an iterator of (spreadsheet row number, cells) for a CSV or XLSX file.

    CSV is UTF-8, with or without BOM; XLSX is read from its first sheet. `fmt` defaults to the
    file's extension. Raises ImportFileError if the file cannot be opened or has no header.
    """
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in ("csv", "xlsx"):
        raise ImportFileError(f"Cannot tell the format of {path.name}: give --format csv or xlsx.")
    try:
        if fmt == "xlsx":
            workbook = load_workbook(path, read_only=True, data_only=True)
            stack.callback(workbook.close)
            rows = workbook.worksheets[0].iter_rows(values_only=True)
        else:
            rows = csv.reader(stack.enter_context(path.open(encoding="utf-8-sig", newline="")))
        header = next(rows, None)
    except Exception as exc:  # OSError, zip, XML and decoding errors alike
        raise ImportFileError(f"Cannot read {path.name} as {fmt.upper()}: {exc}") from exc
    if not header:
        raise ImportFileError(f"{path.name} is empty: the first row must name the columns.")
    header = ["" if h is None else str(h) for h in header]
    numbered = (
        (line, row)
        for line, row in enumerate(rows, start=2)
        if any(cell not in (None, "") for cell in row)
    )
    return header, numbered


def fit_cells(rows: Iterable[tuple[int, Any]], width: int) -> Iterator[tuple[int, list]]:
    """Each row cut or padded to the header's width; cells past it must be empty."""
    for line, row in rows:
        yield line, _fit(row, width, line)


def _fit(row: Any, width: int, line: int) -> list:
    cells = list(row)
    if len(cells) > width:
        if any(cell not in (None, "") for cell in cells[width:]):
            raise ImportFileError(f"Row {line} has more cells than the header row has columns.")
        cells = cells[:width]
    return cells + [""] * (width - len(cells))


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
        hashes = {p.phone: phone_hash(p.phone) for p in plans}
        erased = set(
            Suppression.objects.in_force()
            .covering(None)
            .filter(
                phone_hash__in=set(hashes.values()),
                reason=SuppressionReason.LEGAL_REQUEST,
            )
            .values_list("phone_hash", flat=True)
        )
        allowed = []
        for plan in plans:
            if hashes[plan.phone] in erased:
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


# --- the admin's import job (consent.import_jobs), run by consent.tasks -------------------------

JOB_LEASE = timedelta(minutes=5)
JOB_LABEL = "admin import"


def import_job_create(*, upload: UploadedFile, file_format: str, by) -> ImportJob:
    """Store an uploaded file as a job to check; the caller queues its check
    (`consent.tasks.import_job_check`)."""
    return ImportJob.objects.create(
        file=upload, file_name=Path(upload.name).name[:255], file_format=file_format, created_by=by
    )


def import_job_confirm(*, job: ImportJob, by) -> bool:
    """checked --confirm--> importing (a guarded update). False: not checked, or confirmed by
    someone else first. The caller queues `consent.tasks.import_job_run`."""
    with transaction.atomic():
        moved = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.CHECKED).update(
            status=ImportStatus.IMPORTING,
            confirmed_at=timezone.now(),
            processed_rows=0,
            new_rows=0,
            skipped_rows=0,
            invalid_rows=0,
            lease_expires_at=None,
        )
        if moved:
            ImportRejectedRow.objects.filter(job=job).delete()  # the import lists its own
    return bool(moved)


def _claim(job_id: int, status: str) -> ImportJob | None:
    """Take the job for this worker unless another one holds its lease (a redelivered task)."""
    now = timezone.now()
    claimed = (
        ImportJob.objects.filter(pk=job_id, status=status)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .update(lease_expires_at=now + JOB_LEASE)
    )
    return ImportJob.objects.select_related("created_by").get(pk=job_id) if claimed else None


def _fail(job: ImportJob, message: str) -> None:
    ImportJob.objects.filter(pk=job.pk, status__in=RUNNING).update(
        status=ImportStatus.FAILED, error=message[:2000], finished_at=timezone.now()
    )


def _count(job: ImportJob, report: BatchReport) -> None:
    """Add one batch's figures to the job and renew its lease."""
    ImportRejectedRow.objects.bulk_create(
        ImportRejectedRow(job=job, line=r.line, reasons=r.reasons) for r in report.rejected
    )
    ImportJob.objects.filter(pk=job.pk).update(
        processed_rows=F("processed_rows") + report.total,
        new_rows=F("new_rows") + report.new,
        skipped_rows=F("skipped_rows") + report.skip,
        invalid_rows=F("invalid_rows") + report.invalid,
        lease_expires_at=timezone.now() + JOB_LEASE,
    )


def _preview_row(recorded: Recorded) -> dict[str, Any]:
    return {
        "line": recorded.line,
        "phone": recorded.phone,
        "program": recorded.program,
        "occurred_at": recorded.occurred_at.isoformat(),
        "kind": recorded.kind,
        "status": recorded.status,
        "outcome": "new" if recorded.created else "skipped",
    }


def import_job_check(*, job_id: int) -> str:
    """Dry-run the whole file: count it, keep the first rows and every rejected row."""
    job = _claim(job_id, ImportStatus.CHECKING)
    if job is None:
        return "not claimed"
    ImportRejectedRow.objects.filter(job=job).delete()  # a retried check starts over
    ImportJob.objects.filter(pk=job.pk).update(
        processed_rows=0, new_rows=0, skipped_rows=0, invalid_rows=0
    )
    preview: list[dict[str, Any]] = []

    def on_batch(report: BatchReport) -> None:
        room = settings.IMPORT_PREVIEW_ROWS - len(preview)
        preview.extend(_preview_row(r) for r in report.recorded[: max(room, 0)])
        _count(job, report)

    try:
        with ExitStack() as stack:
            header, rows = read_rows(Path(job.file.path), job.file_format, stack)
            importer = BatchImport(
                header=header,
                file_name=job.file_name,
                dry_run=True,
                user=job.created_by,
                recorded_by_label=JOB_LABEL,
            )
            totals = importer.run(fit_cells(rows, len(header)), on_batch=on_batch)
    except ValueError as exc:  # ImportFileError, missing columns: the person fixes the file
        _fail(job, str(exc))
        return "failed"
    except Exception:
        # Staff see one plain sentence; the traceback (server paths included) goes to the log.
        logger.exception("Import job %s failed", job.pk)
        _fail(job, UNEXPECTED_ERROR)
        raise
    ImportJob.objects.filter(pk=job.pk, status=ImportStatus.CHECKING).update(
        status=ImportStatus.CHECKED,
        total_rows=totals.total,
        checked_new=totals.new,
        checked_skipped=totals.skip,
        checked_invalid=totals.invalid,
        preview=preview,
        checked_at=timezone.now(),
        lease_expires_at=None,
    )
    return "checked"


def import_job_run(*, job_id: int) -> str:
    """Import the good rows, committing each batch with the job's counts; a retried task (a
    worker died) resumes after the last committed batch."""
    job = _claim(job_id, ImportStatus.IMPORTING)
    if job is None:
        return "not claimed"
    try:
        with ExitStack() as stack:
            header, rows = read_rows(Path(job.file.path), job.file_format, stack)
            importer = BatchImport(
                header=header,
                file_name=job.file_name,
                user=job.created_by,
                recorded_by_label=JOB_LABEL,
            )
            remaining = islice(fit_cells(rows, len(header)), job.processed_rows, None)
            while batch := list(islice(remaining, importer.batch_rows)):
                with transaction.atomic():
                    _count(job, importer.import_batch(batch))
    except ValueError as exc:
        _fail(job, str(exc))
        return "failed"
    except Exception:
        # Staff see one plain sentence; the traceback (server paths included) goes to the log.
        logger.exception("Import job %s failed", job.pk)
        _fail(job, UNEXPECTED_ERROR)
        raise
    ImportJob.objects.filter(pk=job.pk, status=ImportStatus.IMPORTING).update(
        status=ImportStatus.DONE, finished_at=timezone.now(), lease_expires_at=None
    )
    return "done"
