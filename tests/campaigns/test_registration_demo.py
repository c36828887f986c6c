"""`seed_demo` adds a brand, a clean and a drifted registration, and reviews them."""

import pytest
from django.core.management import call_command

from campaigns.registrations.models import ProgramReview, Registration

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_clean_and_a_drifted_registration_with_a_first_review():
    call_command("seed_demo", contacts=60, seed=3)
    call_command("seed_demo", contacts=60, seed=3)  # idempotent

    clean = Registration.objects.get(name="Appointment reminders (10DLC)")
    drifted = Registration.objects.get(name="Acme Offers (10DLC)")
    assert clean.status == drifted.status == "approved"
    assert clean.findings.count() == 0
    codes = set(drifted.findings.filter(status="open").values_list("code", flat=True))
    assert {"undeclared_links", "opt_in_flow_changed", "keyword_mismatch"} <= codes
    assert ProgramReview.objects.filter(trigger="demo").count() == 3
