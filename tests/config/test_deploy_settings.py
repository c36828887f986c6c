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
