"""django-q2 tasks of the consent app (schedules: `manage.py setup_schedules`)."""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings

from . import importing
from .consistency import consent_state_check
from .ledger_chain import root_publish, root_write

logger = logging.getLogger(__name__)


def verify_consent_states() -> dict:
    """Weekly: recompute every consent state from the ledger; log an error for any drift."""
    check = consent_state_check()
    for drift in check.drifts:
        logger.error("consent state drift: %s", drift)
    return {"ok": check.ok, "drifts": len(check.drifts) + check.more}


def publish_ledger_root() -> dict:
    """Daily: publish yesterday's ledger root; write its file into LEDGER_ROOT_DIR if set."""
    root = root_publish()
    written = ""
    if settings.LEDGER_ROOT_DIR:
        folder = Path(settings.LEDGER_ROOT_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        written = str(root_write(root, folder))
    return {"date": root.date.isoformat(), "root_hash": root.root_hash, "file": written}


def import_job_check(job_id: int) -> str:
    """Dry-run an uploaded file: counts, first rows, every rejected row (see consent.importing)."""
    return importing.import_job_check(job_id=job_id)


def import_job_run(job_id: int) -> str:
    """Import a confirmed file's good rows, one committed batch at a time."""
    return importing.import_job_run(job_id=job_id)
