"""Shared fixtures and markers for the whole suite."""

import pytest
from django.db import connection


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgres` run only when the default database is PostgreSQL."""
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://... (CI does)")
    if connection.vendor != "postgresql":
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Transactional tests are flushed with TRUNCATE, which the ledger's guards refuse unless
    the session says `consent.allow_truncate = on`: every test connection says so (the guard's
    own tests turn it off again)."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.postgresql":
        options = database.setdefault("OPTIONS", {})
        options["options"] = f"{options.get('options', '')} -c consent.allow_truncate=on".strip()


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.Q2_SYNC = True
    settings.SMS_BACKEND = "locmem"
    # Tests that are not about registrations send from unregistered 10DLC senders; the
    # registration tests switch the hold back on.
    settings.SMS_UNREGISTERED_SENDER = "warn"


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def browser_page(live_server, monkeypatch):
    """A Chromium page (system Chromium, driven by Playwright) for browser tests."""
    import os
    import shutil

    if not os.path.exists(CHROMIUM) and not shutil.which("chromium"):
        pytest.skip("Chromium is not installed: apt-get install -y chromium (.ci/run does)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls made by the test
    # itself are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(10_000)
        try:
            yield page
        finally:
            browser.close()


def admin_login(page, live_server, username: str, password: str = "pw") -> None:
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    """Every per-process cache (senders, rules, programs, API keys) starts and ends empty."""
    from config.lib.process_cache import clear_all

    clear_all()
    yield
    clear_all()


@pytest.fixture(autouse=True)
def _empty_cache():
    """Throttle counts live in the cache; each test starts with none."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def partner_api(db):
    """`partner_api(scopes)`: a DRF test client authenticated as a new partner with `scopes`.

    The `ApiClient` is on `.partner` and its key on `.key`.
    """
    from rest_framework.test import APIClient

    from tests.factories import create_api_client

    def make(scopes=("consent:read", "consent:write"), **fields) -> APIClient:
        partner, key = create_api_client(scopes=list(scopes), **fields)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        client.partner, client.key = partner, key
        return client

    return make


@pytest.fixture
def no_quiet_hours(db):
    """For tests of the whole pipeline at whatever hour the suite runs: no window rules."""
    from messaging.models import QuietHoursRule

    QuietHoursRule.objects.all().delete()


from tests.standin.fixtures import a2p_standin, locmem_sms, twilio_standin  # noqa: E402, F401
