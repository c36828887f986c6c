"""Schemathesis over our own schema: every operation, a bounded number of generated requests
each (plus the documented examples), with a key that has every scope. Every answer must be one
the schema documents: no 5xx, a documented status code, the documented content type and a
body that matches the documented schema (errors included: 404, 409, 413, 422).

Generated inputs are mostly refusals (4xx); the seeded program, template and contact are the
ones the documented examples name, so the examples phase exercises the happy paths too.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from consent.models import MessageType
from messaging.models import Scope
from tests.factories import (
    create_approved_version,
    create_contact,
    create_program,
    create_sender,
    create_template,
    opt_in,
)

# Generated in process, as /api/schema/ serves it (tests/api/test_api_schema.py checks that
# document). Loaded at import: schemathesis's fixture-based loader does not run on pytest 9.
schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.app = WSGIHandler()


@pytest.fixture
def keep_connection():
    """As Django's test client does: a request must not close the test's own connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def key(db, settings, partner_api, no_quiet_hours, keep_connection) -> str:
    settings.ALLOWED_HOSTS = ["localhost"]  # the host schemathesis's WSGI calls name
    program = create_program("appointments", message_type=MessageType.TRANSACTIONAL)
    create_sender(program)
    create_approved_version(
        create_template(program, name="Appointment reminder", category="reminder"),
        body="Acme Clinic: see you {event.appointment_at:time|soon}. Reply STOP to opt out",
    )
    opt_in(create_contact("+14155550134", first_name="Dana"), program)
    return partner_api(Scope.values, rate_per_minute=1_000_000).key


@schema.parametrize()
@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_every_operation_answers_as_its_schema_says(case, key):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {key}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
