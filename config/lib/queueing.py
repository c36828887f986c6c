"""The one way work is put on the django-q2 queue: after the surrounding transaction commits."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django_q.tasks import async_task

#: Seconds a task may run before django-q2 kills it, by task.
TIMEOUTS = {
    "messaging.tasks.dispatch": 110,
    "messaging.tasks.reconcile_leases": 110,
    "campaigns.tasks.fanout_campaign": 600,
    # A whole file; a redelivered task finds the job's lease held (consent.importing).
    "consent.tasks.import_job_check": 3600,
    "consent.tasks.import_job_run": 3600,
    "messaging.tasks.purge_expired_records": 110,
}


def enqueue(func: str, *args, **kwargs) -> None:
    """Queue `func(*args, **kwargs)` once the current transaction commits (at once outside one)."""
    timeout = TIMEOUTS.get(func, 110)
    sync = settings.Q2_SYNC  # the test suite runs tasks inline
    transaction.on_commit(lambda: async_task(func, *args, timeout=timeout, sync=sync, **kwargs))
