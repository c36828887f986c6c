"""django-q2 tasks of the consent app: the admin's import jobs (see consent.importing)."""

from __future__ import annotations

from . import importing


def import_job_check(job_id: int) -> str:
    """Dry-run an uploaded file: counts, first rows, every rejected row."""
    return importing.import_job_check(job_id=job_id)


def import_job_run(job_id: int) -> str:
    """Import a confirmed file's good rows, one committed batch at a time."""
    return importing.import_job_run(job_id=job_id)
