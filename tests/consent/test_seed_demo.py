"""`seed_demo` builds a believable business, once."""

import pytest
from django.core.management import call_command

from consent.models import ConsentEvent, ConsentState, Contact, Program, Suppression
from consent.selectors import can_message

pytestmark = pytest.mark.django_db


def test_it_creates_programs_contacts_and_varied_consent_histories_once():
    call_command("seed_demo", contacts=150, seed=7)
    offers = Program.objects.get(slug="offers")
    appointments = Program.objects.get(slug="appointments")
    assert offers.double_opt_in and offers.message_type == "marketing"
    assert appointments.message_type == "transactional"
    assert offers.disclosures.count() == 2
    assert Contact.objects.count() == 150
    methods = set(ConsentEvent.objects.values_list("method", flat=True))
    assert {"web_form", "keyword", "import"} <= methods
    assert ConsentState.objects.filter(status="opted_out").exists()
    assert ConsentState.objects.filter(status="pending").exists()
    assert Suppression.objects.exists()
    # The derived state agrees with the gate for every demo contact.
    for state in ConsentState.objects.filter(program=offers).select_related("contact")[:50]:
        allowed = can_message(state.contact.phone, offers).allowed
        assert allowed == (
            state.status == "opted_in"
            and not Suppression.objects.filter(
                phone_hash=state.contact.phone_hash, lifted_at__isnull=True
            ).exists()
        )

    from campaigns.models import Campaign
    from campaigns.services import launch_problems
    from templates.models import TemplateVersion

    assert TemplateVersion.objects.filter(status="approved").count() == 2
    assert TemplateVersion.objects.filter(status="pending_review").count() == 1
    campaign = Campaign.objects.get()
    assert launch_problems(campaign) == []  # ready to launch from the admin

    call_command("seed_demo", contacts=150, seed=7)
    assert Contact.objects.count() == 150


def test_ensure_admin_prints_a_working_login(capsys):
    from django.contrib.auth import authenticate

    call_command("ensure_admin")
    out = capsys.readouterr().out
    password = out.split("admin / ")[1].split()[0]
    assert authenticate(username="admin", password=password).is_superuser
    assert authenticate(username="support", password=password).groups.filter(name="Support")
