# Two commands on a fresh machine: `make run` (the product, on SQLite with demo data) and
# `make test` (the whole suite; on PostgreSQL when DATABASE_URL says so).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1:8000

.PHONY: install run test lint format clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: export DEBUG ?= true
run: export SMS_BACKEND ?= console
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py setup_schedules
	$(PY) manage.py ensure_admin --url http://$(HOST)/admin/
	@echo "Starting the web server on http://$(HOST)/ and a django-q2 cluster; Ctrl-C stops both."
	@# Stop the two children once, then wait for them. (`kill 0` also signalled this shell,
	@# which ran the trap again, and again: a RecursionError in qcluster, a crashed shell.)
	@trap 'trap - INT TERM EXIT; kill $$tasks $$web 2>/dev/null; wait; exit 0' INT TERM EXIT; \
		$(PY) manage.py qcluster & tasks=$$!; \
		$(PY) manage.py runserver $(HOST) & web=$$!; \
		wait

test: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
