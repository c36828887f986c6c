"""`make run` as a newcomer meets it: a front page, a favicon, a stable login, no "database is
locked" under concurrent writers on SQLite, and a clean stop on Ctrl-C."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import call_command

from tests.factories import create_program

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_it_serves_a_front_page_linking_the_admin_and_each_sign_up_page(client):
    create_program("offers", name="Acme Offers")
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'href="/admin/"' in page
    assert 'href="/join/offers/"' in page and "Acme Offers" in page
    assert 'rel="icon"' in page


@pytest.mark.django_db
def test_it_answers_the_favicon_and_links_it_from_every_admin_page(client, admin_client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")
    assert (ROOT / "static/config/favicon.svg").exists()
    page = admin_client.get("/admin/consent/contact/").content.decode()
    assert '<link rel="icon" href="/static/config/favicon.svg"' in page


@pytest.mark.django_db
def test_it_keeps_the_printed_login_from_one_run_to_the_next(capsys, settings, tmp_path):
    settings.VAR_DIR = tmp_path

    def printed_password() -> str:
        call_command("ensure_admin")
        return capsys.readouterr().out.split("admin / ")[1].split()[0]

    User.objects.create(username="marketing", is_staff=True)  # as seed_demo makes it
    first = printed_password()
    assert printed_password() == first
    assert authenticate(username="admin", password=first).is_superuser
    assert authenticate(username="marketing", password=first).groups.filter(name="Marketing")
    assert (tmp_path / "demo-login").stat().st_mode & 0o077 == 0  # only its owner reads it
    call_command("ensure_admin", reset=True)
    second = capsys.readouterr().out.split("admin / ")[1].split()[0]
    assert second != first and authenticate(username="support", password=second)


WRITERS = textwrap.dedent(
    """
    import threading
    import time

    import django
    django.setup()
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE counter (n integer)")
        cursor.execute("INSERT INTO counter VALUES (0)")
    connection.close()
    errors = []

    def writer():
        from django.db import connection
        try:
            for _ in range(40):
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute("SELECT n FROM counter")  # read, then write: a lock upgrade
                    (n,) = cursor.fetchone()
                    time.sleep(0.002)  # let another writer read the same snapshot
                    cursor.execute("UPDATE counter SET n = %s", [n + 1])
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with connection.cursor() as cursor:
        cursor.execute("SELECT n FROM counter")
        total = cursor.fetchone()[0]
        cursor.execute("PRAGMA journal_mode")
        mode = cursor.fetchone()[0]
    print(mode, total, errors[:1])
    """
)


def test_it_lets_concurrent_writers_wait_for_the_sqlite_lock_instead_of_failing(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    result = subprocess.run(  # noqa: S603 (our own script, our own interpreter)
        [sys.executable, "-c", WRITERS], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wal", "160", "[]"], result.stdout


FAKE_PYTHON = """#!/bin/sh
case "$2" in
  qcluster|runserver) echo $$ >> "$(dirname "$0")/pids"; exec sleep 300 ;;
  *) exit 0 ;;
esac
"""


@pytest.mark.skipif(not shutil.which("make"), reason="needs make")
def test_it_stops_both_processes_cleanly_on_ctrl_c(tmp_path):
    """The recipe's shell, not the real server: a stand-in python that sleeps for the web
    server and the cluster, so the test measures the Makefile's signal handling alone."""
    fake = tmp_path / "python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / ".installed").touch()
    pid, fd = pty.fork()
    if pid == 0:  # the child: make in a terminal of its own, as a person runs it
        os.chdir(ROOT)
        os.execvp("make", ["make", "run", f"PY={fake}", f"VENV={venv}"])  # noqa: S606, S607
    output = b""

    def read_for(seconds: float) -> None:
        nonlocal output
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    output += os.read(fd, 65536)
                except OSError:
                    return

    pids = tmp_path / "pids"
    deadline = time.monotonic() + 60
    # Both children started (so the recipe's shell has set its trap): a busy machine is slow.
    while time.monotonic() < deadline and not (
        pids.exists() and len(pids.read_text().split()) == 2
    ):
        read_for(0.2)
    read_for(0.5)
    os.write(fd, b"\x03")  # Ctrl-C, through the terminal
    status = None
    deadline = time.monotonic() + 30
    while status is None and time.monotonic() < deadline:
        read_for(0.2)
        done, status_code = os.waitpid(pid, os.WNOHANG)
        status = status_code if done else None
    os.close(fd)
    text = output.decode(errors="replace")
    assert status is not None, "make still runs after Ctrl-C:\n" + text
    assert "Segmentation fault" not in text and "Recursion" not in text, text
    children = pids.read_text().split()
    assert len(children) == 2, text
    time.sleep(0.5)
    alive = [child for child in children if Path(f"/proc/{child}").exists()]
    assert alive == [], "the web server or the cluster lived on"
