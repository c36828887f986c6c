"""The admin's import pages in Chromium at 1280 px: upload, check, confirm, progress, done."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from consent.models import ConsentEvent, ImportJob, ImportRejectedRow
from tests.a11y import axe_violations
from tests.conftest import admin_login
from tests.factories import compliance_approver, create_program

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ROWS = "".join(
    f"+1415555{4000 + n},Person {n},offers,2025-05-01T10:00:00Z,web_form,https://acme.example/join\n"
    for n in range(30)
)
BAD = "".join(f"415555{n:03d},Bad {n},offers,2025-05-01T10:00:00Z,api,crm\n" for n in range(60))


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_compliance_imports_a_file_and_follows_its_progress(browser_page, live_server, tmp_path):
    create_program("offers")
    compliance_approver()
    leads = tmp_path / "leads.csv"
    leads.write_text("phone,name,program,opted_in_at,method,source\n" + ROWS + BAD)
    page = browser_page
    admin_login(page, live_server, "carl_compliance")

    page.goto(f"{live_server.url}/admin/consent/consentevent/")
    page.get_by_role("link", name="Import…").click()
    assert axe_violations(page, include="#content-main") == []
    page.get_by_label("File (CSV or Excel)").set_input_files(str(leads))
    page.get_by_role("button", name="Check the file").click()

    expect(page.get_by_role("heading", name="Checked: ready to import", exact=True)).to_be_visible()
    expect(page.locator("#count-new")).to_have_text("30")
    expect(page.locator("#count-rejected")).to_have_text("60")
    expect(page.locator(".import-rejected tbody tr")).to_have_count(50)
    expect(page.get_by_role("link", name="Next page")).to_be_visible()
    page.screenshot(path=str(tmp_path / "import-checked.png"), full_page=True)
    assert axe_violations(page, include="#content-main") == []
    assert not ConsentEvent.objects.exists()

    page.get_by_role("button", name="Confirm import of 30 rows").click()
    expect(page.get_by_role("heading", name="Done", exact=True)).to_be_visible()
    expect(page.locator("#import-progress")).to_have_attribute("value", "90")
    assert ConsentEvent.objects.count() == 30
    assert axe_violations(page, include="#content-main") == []


def test_the_progress_page_of_a_running_import_refreshes_and_shows_its_bar(
    browser_page, live_server, tmp_path
):
    user = compliance_approver()
    job = ImportJob.objects.create(
        file="imports/big.csv",
        file_name="big.csv",
        file_format="csv",
        status="importing",
        created_by=user,
        total_rows=100_000,
        processed_rows=42_000,
        new_rows=39_900,
        invalid_rows=2_100,
        checked_new=95_000,
        checked_invalid=5_000,
        confirmed_at=timezone.now(),
        preview=[
            {
                "line": 2,
                "phone": "+14155552671",
                "program": "offers",
                "occurred_at": "2025-01-15T14:30:00+00:00",
                "kind": "opt_in",
                "status": "opted_in",
                "outcome": "new",
            }
        ],
    )
    ImportRejectedRow.objects.create(job=job, line=21, reasons=["phone: “415555” is not valid"])
    page = browser_page
    admin_login(page, live_server, "carl_compliance")

    page.goto(f"{live_server.url}/admin/consent/importjob/{job.pk}/change/")

    expect(page.get_by_role("heading", name="Importing", exact=True)).to_be_visible()
    expect(page.locator("#import-progress")).to_have_attribute("value", "42000")
    expect(page.locator("#import-progress")).to_have_attribute("max", "100000")
    expect(page.locator("meta[http-equiv=refresh]")).to_have_count(1)
    expect(page.get_by_role("button", name="Confirm import of 95000 rows")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "import-running.png"), full_page=True)

    # The page refreshes itself: once the task finishes, it shows so without a click.
    ImportJob.objects.filter(pk=job.pk).update(status="done", processed_rows=100_000)
    expect(page.get_by_role("heading", name="Done", exact=True)).to_be_visible()
    expect(page.locator("meta[http-equiv=refresh]")).to_have_count(0)
    assert axe_violations(page, include="#content-main") == []
