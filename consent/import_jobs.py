"""An import of a consent file from the admin, run as a django-q2 task with its progress.

Lifecycle of an `ImportJob`::

    checking --check done--> checked --confirm--> importing --all batches--> done
        \\--unreadable file / crash--> failed <-------/

The check is a dry run of the whole file (every row through the same rules and service, each
batch rolled back): it counts the rows, keeps the first `IMPORT_PREVIEW_ROWS` as they would be
recorded and every rejected row with its reasons (`ImportRejectedRow`), so the page shows them a
page at a time. Confirming imports the good rows, committing each batch together with the job's
counts: a worker that dies leaves a job that resumes after its last committed batch.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ImportStatus(models.TextChoices):
    CHECKING = "checking", "Checking the file"
    CHECKED = "checked", "Checked: ready to import"
    IMPORTING = "importing", "Importing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


#: Statuses a task is working in.
RUNNING = (ImportStatus.CHECKING, ImportStatus.IMPORTING)


class ImportJob(models.Model):
    """One uploaded file and what its check and import did (see the module docstring)."""

    Status = ImportStatus

    file = models.FileField(upload_to="imports/%Y/%m/")
    file_name = models.CharField(max_length=255)
    file_format = models.CharField(max_length=4, choices=[("csv", "CSV"), ("xlsx", "Excel")])
    status = models.CharField(
        max_length=10, choices=ImportStatus.choices, default=ImportStatus.CHECKING
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    checked_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The file's data rows (known once checked) and what the current phase has done so far.
    total_rows = models.PositiveIntegerField(null=True, blank=True)
    processed_rows = models.PositiveIntegerField(default=0)
    new_rows = models.PositiveIntegerField(default=0)
    skipped_rows = models.PositiveIntegerField(default=0)
    invalid_rows = models.PositiveIntegerField(default=0)
    # The check's counts, kept for the confirmation ("import N rows, M rejected").
    checked_new = models.PositiveIntegerField(default=0)
    checked_skipped = models.PositiveIntegerField(default=0)
    checked_invalid = models.PositiveIntegerField(default=0)
    preview = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ImportStatus.values), name="import_job_status_valid"
            )
        ]

    def __str__(self) -> str:
        return f"Import of {self.file_name} ({self.get_status_display()})"

    @property
    def running(self) -> bool:
        return self.status in RUNNING

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 0 if self.running else 100
        return min(100, round(100 * self.processed_rows / self.total_rows))


class ImportRejectedRow(models.Model):
    """A row the check (or the import) did not record: its number in the file and why."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rejected_rows")
    line = models.PositiveIntegerField()
    reasons = models.JSONField(default=list)

    class Meta:
        ordering = ["job", "line"]
        indexes = [models.Index(fields=["job", "line"])]

    def __str__(self) -> str:
        return f"row {self.line}: " + "; ".join(self.reasons)
