"""The admin's consent import: upload a file, watch its check, confirm, watch the import.

Both phases run as django-q2 tasks (`consent.tasks`), so a 100,000-row file never ties up a web
request; the job page refreshes itself while a task works (no JavaScript needed) and shows the
first rows and the rejected ones a page at a time. Only people with `consent.import_consent`
(Compliance) see any of it. The work is in `consent.importing`.
"""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse

from config.lib.admin_tools import BigTableAdmin, ReadOnlyAdminMixin
from config.lib.queueing import enqueue

from . import importing
from .import_jobs import ImportJob, ImportStatus
from .resources import OPTIONAL_COLUMNS, REQUIRED_COLUMNS

REJECTED_PER_PAGE = 50
REFRESH_SECONDS = 2


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label="File (CSV or Excel)",
        help_text=f"Columns: {', '.join(REQUIRED_COLUMNS)}; "
        f"optional: {', '.join(OPTIONAL_COLUMNS)}.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        suffix = Path(upload.name).suffix.lower().lstrip(".")
        if suffix not in ("csv", "xlsx"):
            raise forms.ValidationError("Upload a .csv or .xlsx file.")
        self.file_format = suffix
        return upload


def _require(request: HttpRequest) -> None:
    if not request.user.has_perm("consent.import_consent"):
        raise PermissionDenied


def import_upload_view(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    """Upload page (the ledger's "Import…" link): the file becomes a job to check."""
    _require(request)
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            job = importing.import_job_create(
                upload=form.cleaned_data["file"], file_format=form.file_format, by=request.user
            )
            enqueue("consent.tasks.import_job_check", job.pk)
        return redirect("admin:consent_importjob_change", job.pk)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Import contacts with consent",
        "form": form,
        "opts": model_admin.model._meta,
        "recent": ImportJob.objects.select_related("created_by")[:5],
    }
    return TemplateResponse(request, "admin/consent/importjob/upload.html", context)


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdminMixin, BigTableAdmin):
    list_display = [
        "created_at",
        "file_name",
        "status",
        "total_rows",
        "new_rows",
        "skipped_rows",
        "invalid_rows",
        "created_by",
    ]
    list_filter = ["status"]
    list_select_related = ["created_by"]

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("consent.import_consent")

    def has_module_permission(self, request) -> bool:
        return request.user.has_perm("consent.import_consent")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The job's page: progress, preview, rejected rows, and the confirm button."""
        _require(request)
        job = get_object_or_404(ImportJob.objects.select_related("created_by"), pk=object_id)
        if request.method == "POST" and "confirm" in request.POST:
            with transaction.atomic():
                confirmed = importing.import_job_confirm(job=job, by=request.user)
                if confirmed:
                    enqueue("consent.tasks.import_job_run", job.pk)
            if confirmed:
                self.message_user(request, f"Importing {job.file_name}.", messages.SUCCESS)
            else:
                self.message_user(
                    request, "This import was already confirmed or is not ready.", messages.WARNING
                )
            return redirect("admin:consent_importjob_change", job.pk)
        try:
            page = max(int(request.GET.get("p", 1)), 1)
        except ValueError:
            page = 1
        offset = (page - 1) * REJECTED_PER_PAGE
        rejected = list(job.rejected_rows.order_by("line")[offset : offset + REJECTED_PER_PAGE + 1])
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import of {job.file_name}",
            "job": job,
            "opts": self.model._meta,
            "original": job,
            "refresh": REFRESH_SECONDS if job.running else None,
            "rejected": rejected[:REJECTED_PER_PAGE],
            "page": page,
            "has_next": len(rejected) > REJECTED_PER_PAGE,
            "first_rejected_number": offset + 1,
            "can_confirm": job.status == ImportStatus.CHECKED and job.checked_new > 0,
        }
        return TemplateResponse(request, "admin/consent/importjob/progress.html", context)
