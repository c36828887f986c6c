"""Small things a person reads on every admin page: times in one format with their zone, and
no misleading totals on big lists."""

import zoneinfo

import pytest
from django.urls import reverse

from tests.factories import create_contact, create_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    client.force_login(create_user("root", superuser=True))
    return client


def test_it_shows_times_in_the_staff_zone_with_its_abbreviation(staff, settings):
    settings.ADMIN_TIME_ZONE = "America/Chicago"
    contact = create_contact()
    html = staff.get(reverse("admin:consent_contact_change", args=[contact.pk])).content.decode()
    local = contact.created_at.astimezone(zoneinfo.ZoneInfo("America/Chicago"))
    assert local.strftime("%Y-%m-%d %H:%M %Z") in html  # e.g. "2026-12-05 17:54 CST"
    assert local.strftime("%Z") in ("CST", "CDT")


def test_a_big_list_never_shows_a_total_it_did_not_count(staff):
    for _ in range(55):
        create_contact()
    for name in ("consent_contact_changelist", "messaging_outboundmessage_changelist"):
        html = staff.get(reverse(f"admin:{name}")).content.decode()
        assert "Show all" not in html, name
        assert " results" not in html and "51 " not in html, name
    html = staff.get(reverse("admin:consent_contact_changelist")).content.decode()
    assert "Next &rarr;" in html
