"""Support types the end of a number ("790-4411") and finds the person, fast at any size."""

import pytest
from django.db import connection
from django.urls import reverse

from consent.models import Contact
from consent.phone_search import SUFFIX_INDEX, filter_phone_suffix, phone_suffix
from tests.factories import create_contact, create_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    client.force_login(create_user("root", superuser=True))
    return client


@pytest.mark.parametrize(
    ("query", "digits"),
    [
        ("790-4411", "7904411"),
        (" (790) 44.11 ", "7904411"),
        ("4411", "4411"),
        ("+1 415", "1415"),
        ("441", None),  # too short to be a look-up
        ("Ada 4411", None),  # a name
        ("", None),
    ],
)
def test_it_reads_the_digits_of_a_partial_number(query, digits):
    assert phone_suffix(query) == digits


def test_it_finds_a_contact_by_the_end_of_the_number(staff):
    ada = create_contact("+14157904411", first_name="Ada")
    create_contact("+14157904412", first_name="Bob")
    create_contact("+17904411000", first_name="Cy")  # the digits, but not at the end
    for query in ("790-4411", "7904411", "4411"):
        page = staff.get(reverse("admin:consent_contact_changelist"), {"q": query})
        found = list(page.context["cl"].result_list)
        assert found == [ada], query


@pytest.mark.postgres
def test_it_uses_the_reversed_phone_index_on_postgresql():
    create_contact("+14157904411")
    queryset = filter_phone_suffix(Contact.objects.all(), "phone", "7904411")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # tiny table: judge the index alone
        plan = queryset.explain()
    assert SUFFIX_INDEX in plan, plan
    assert list(queryset.values_list("phone", flat=True)) == ["+14157904411"]
