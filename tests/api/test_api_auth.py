"""Partner keys: 401 without or with a bad key, 403 without the scope, 429 over the rate."""

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import path
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from config.api.idempotency import idempotent
from messaging.api_clients import api_client_revoke, api_client_rotate
from messaging.models import ApiClient, IdempotencyRecord
from messaging.models.partners import hash_api_key

pytestmark = pytest.mark.django_db


class Echo(APIView):
    required_scopes = {"GET": "consent:read", "POST": "consent:write"}
    calls = 0

    def get(self, request):
        return Response({"client": request.auth.name})

    @idempotent
    def post(self, request):
        Echo.calls += 1
        if request.data.get("fail"):
            return Response({"code": "invalid"}, status=400)
        return Response({"n": Echo.calls, "echo": request.data}, status=201)


urlpatterns = [path("echo/", Echo.as_view())]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def test_it_refuses_a_request_without_a_key_with_401_and_a_json_body():
    response = APIClient().get("/echo/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_refuses_a_wrong_key_and_a_revoked_one(partner_api):
    api = partner_api(["consent:read"])
    assert api.get("/echo/").status_code == 200
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION=f"Bearer {api.key}x")
    assert bad.get("/echo/").json()["code"] == "authentication_failed"
    assert api_client_revoke(client=api.partner) is True
    response = api.get("/echo/")
    assert response.status_code == 401
    assert api_client_revoke(client=api.partner) is False


def test_it_stores_only_the_hash_and_a_visible_prefix(partner_api):
    api = partner_api(["consent:read"])
    stored = ApiClient.objects.get(pk=api.partner.pk)
    assert stored.key_hash == hash_api_key(api.key)
    assert api.key.startswith(f"sms_{stored.prefix}_")
    assert api.key not in str(stored.__dict__)


def test_it_answers_403_for_a_missing_scope(partner_api):
    api = partner_api(["consent:read"])
    response = api.post("/echo/", {"a": 1}, format="json")
    assert response.status_code == 403
    assert response.json() == {
        "code": "missing_scope",
        "message": "This key lacks the “consent:write” scope.",
        "fields": {},
    }


def test_it_throttles_per_client_with_retry_after(partner_api):
    slow = partner_api(["consent:read"], rate_per_minute=3)
    other = partner_api(["consent:read"])
    assert [slow.get("/echo/").status_code for _ in range(3)] == [200, 200, 200]
    response = slow.get("/echo/")
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    assert other.get("/echo/").status_code == 200


def test_it_replays_the_first_response_for_a_repeated_idempotency_key(partner_api):
    api = partner_api(["consent:write"])
    first = api.post("/echo/", {"a": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post("/echo/", {"a": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    fresh = api.post("/echo/", {"a": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert fresh.json()["n"] == first.json()["n"] + 1


def test_it_refuses_a_reused_key_with_another_body(partner_api):
    api = partner_api(["consent:write"])
    api.post("/echo/", {"a": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    response = api.post("/echo/", {"a": 2}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"


def test_it_keeps_no_record_of_a_refused_request(partner_api):
    api = partner_api(["consent:write"])
    api.post("/echo/", {"fail": True}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert not IdempotencyRecord.objects.exists()


def test_keys_are_scoped_per_client(partner_api):
    one, two = partner_api(["consent:write"]), partner_api(["consent:write"])
    a = one.post("/echo/", {"a": 1}, format="json", HTTP_IDEMPOTENCY_KEY="same")
    b = two.post("/echo/", {"a": 1}, format="json", HTTP_IDEMPOTENCY_KEY="same")
    assert a.json()["n"] != b.json()["n"]


def test_it_answers_malformed_json_with_400(partner_api):
    api = partner_api(["consent:write"])
    response = api.post("/echo/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_it_refuses_an_oversized_body_with_413(partner_api):
    api = partner_api(["consent:write"])
    response = api.post("/echo/", {"a": "x" * 5000}, format="json")
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


def test_rotating_a_key_retires_the_old_one(partner_api):
    api = partner_api(["consent:read"])
    new_key = api_client_rotate(client=api.partner)
    assert api.get("/echo/").status_code == 401
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {new_key}")
    assert fresh.get("/echo/").status_code == 200


def test_the_command_prints_the_key_alone_on_its_last_line(capsys):
    call_command("create_api_client", "Shop", "--scopes", "consent:read,messages:send")
    last = capsys.readouterr().out.strip().splitlines()[-1]
    client = ApiClient.objects.get(name="Shop")
    assert last.startswith(f"sms_{client.prefix}_") and " " not in last
    assert client.key_hash == hash_api_key(last)
    assert client.scopes == ["consent:read", "messages:send"]


def test_the_command_refuses_an_unknown_scope():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Unknown scope"):
        call_command("create_api_client", "Shop", "--scopes", "consent:everything")
    assert not ApiClient.objects.exists()


def test_a_scope_change_applies_to_the_next_request(partner_api):
    api = partner_api(["consent:read"])
    assert api.post("/echo/", {"a": 1}, format="json").status_code == 403
    client = ApiClient.objects.get(pk=api.partner.pk)
    client.scopes = ["consent:read", "consent:write"]
    client.save(update_fields=["scopes"])
    assert api.post("/echo/", {"a": 1}, format="json").status_code == 201


def test_other_processes_trust_a_looked_up_key_only_briefly(partner_api, monkeypatch):
    from config.lib import process_cache
    from messaging import api_clients as auth

    api = partner_api(["consent:read"])
    assert api.get("/echo/").status_code == 200
    # Another process revoked it: this one's cache does not know...
    ApiClient.objects.filter(pk=api.partner.pk).update(revoked_at="2026-01-01T00:00:00Z")
    assert api.get("/echo/").status_code == 200
    # ...until KEY_CACHE_SECONDS have passed.
    later = process_cache.time.monotonic() + auth.KEY_CACHE_SECONDS + 1
    monkeypatch.setattr(process_cache.time, "monotonic", lambda: later)
    assert api.get("/echo/").status_code == 401
