"""The production settings pass Django's deployment checklist without a warning."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_it_passes_check_deploy_with_production_settings():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"} | {
        "DJANGO_SETTINGS_MODULE": "config.production",
        "SECRET_KEY": "k" * 20 + "-Zq8#pL2@vN5!rT7^wY1&uI4*oP6(aS9)dF3",
        "ALLOWED_HOSTS": "sms.acme.example",
        "PUBLIC_BASE_URL": "https://sms.acme.example",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_it_refuses_to_start_in_production_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env["DJANGO_SETTINGS_MODULE"] = "config.production"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_it_refuses_to_start_in_production_without_a_public_base_url():
    env = {k: v for k, v in os.environ.items() if k != "PUBLIC_BASE_URL"} | {
        "DJANGO_SETTINGS_MODULE": "config.production",
        "SECRET_KEY": "k" * 20 + "-Zq8#pL2@vN5!rT7^wY1&uI4*oP6(aS9)dF3",
        "ALLOWED_HOSTS": "sms.acme.example",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "PUBLIC_BASE_URL" in result.stderr


def production_check(**environment: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"} | {
        "DJANGO_SETTINGS_MODULE": "config.production",
        "SECRET_KEY": "k" * 20 + "-Zq8#pL2@vN5!rT7^wY1&uI4*oP6(aS9)dF3",
        "ALLOWED_HOSTS": "sms.acme.example",
        "PUBLIC_BASE_URL": "https://sms.acme.example",
    }
    env.pop("WEBHOOK_ALLOW_PRIVATE_URLS", None)
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "print('private urls:', settings.WEBHOOK_ALLOW_PRIVATE_URLS)"
    )
    return subprocess.run(  # noqa: S603 (a constant script)
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env | environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_leftover_debug_does_not_open_webhooks_to_private_addresses_in_production():
    result = production_check(DEBUG="true")

    assert result.returncode == 0, result.stderr
    assert "private urls: False" in result.stdout


def test_check_deploy_warns_when_webhooks_may_reach_private_addresses():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"} | {
        "DJANGO_SETTINGS_MODULE": "config.production",
        "SECRET_KEY": "k" * 20 + "-Zq8#pL2@vN5!rT7^wY1&uI4*oP6(aS9)dF3",
        "ALLOWED_HOSTS": "sms.acme.example",
        "PUBLIC_BASE_URL": "https://sms.acme.example",
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode != 0
    assert "messaging.W001" in result.stderr + result.stdout
    assert "WEBHOOK_ALLOW_PRIVATE_URLS is on" in result.stderr + result.stdout


def test_the_check_is_quiet_when_the_guard_is_on(settings):
    from messaging.checks import webhook_private_urls_check

    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    assert webhook_private_urls_check() == []
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    assert [m.id for m in webhook_private_urls_check()] == ["messaging.W001"]


def test_a_lease_whose_last_hand_off_outlasts_the_dispatch_task_is_flagged(settings):
    """A batch starts hand-offs until 75% of its lease: past the task's timeout, django-q2
    would kill it mid-batch."""
    from messaging.checks import dispatch_lease_check

    assert dispatch_lease_check() == []  # 90 s, and 10 s for the provider, within 110 s
    settings.SMS_LEASE_SECONDS = 300
    assert [m.id for m in dispatch_lease_check()] == ["messaging.W002"]
