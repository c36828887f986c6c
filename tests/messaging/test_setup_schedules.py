import pytest
from django.core.management import call_command
from django_q.models import Schedule

from messaging.management.commands.setup_schedules import SCHEDULES

pytestmark = pytest.mark.django_db


def test_it_creates_the_schedules_once():
    call_command("setup_schedules")
    call_command("setup_schedules")
    assert Schedule.objects.count() == len(SCHEDULES)
    funcs = set(Schedule.objects.values_list("func", flat=True))
    assert "messaging.tasks.dispatch" in funcs and "messaging.tasks.reconcile_leases" in funcs
    from django.utils.module_loading import import_string

    for func in funcs:
        assert callable(import_string(func))
