"""Admin smoke tests: API clients, webhook subscriptions and the webhook delivery log."""

import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from messaging.models import ApiClient, WebhookDelivery, WebhookSubscription
from messaging.models.partners import hash_api_key
from messaging.partner_webhook_delivery import webhook_deliver_due
from messaging.partner_webhooks import webhook_emit
from tests.factories import compliance_approver, create_api_client, create_user, marketer

pytestmark = pytest.mark.django_db
# The loopback receiver and its fixtures: receiver, subscribe, webhook_settings.
pytest_plugins = ["tests.messaging.webhook_receiver"]

KEY = re.compile(r"sms_[0-9a-f]{8}_[\w-]{43}")
SECRET = re.compile(r"\b[0-9a-f]{64}\b")


@pytest.fixture(params=["superuser", "compliance"])
def staff(request, client):
    """Each test runs as a superuser and as the compliance persona (who owns partners)."""
    user = create_user("root", superuser=True) if request.param == "superuser" else None
    user = user or compliance_approver()
    client.force_login(user)
    return user


def url(name: str, *args) -> str:
    return reverse(f"admin:messaging_{name}", args=args)


def action(client, model: str, name: str, objects, **data):
    payload = {"action": name, ACTION_CHECKBOX_NAME: [o.pk for o in objects], **data}
    return client.post(url(f"{model}_changelist"), payload, follow=True)


def shown(response, pattern: re.Pattern) -> list[str]:
    return pattern.findall(response.content.decode())


# --- API clients ----------------------------------------------------------------------------


def test_it_lists_and_finds_api_clients(client, staff):
    partner, _ = create_api_client(name="Shop", scopes=["consent:read", "consent:write"])

    response = client.get(url("apiclient_changelist"))
    assert response.status_code == 200
    assert partner.prefix in response.content.decode()
    assert "consent:read, consent:write" in response.content.decode()
    found = client.get(url("apiclient_changelist"), {"q": partner.prefix})
    assert list(found.context["cl"].result_list) == [partner]
    assert client.get(url("apiclient_changelist"), {"revoked": "yes"}).status_code == 200


def test_it_creates_a_client_and_shows_its_key_once(client, staff):
    response = client.get(url("apiclient_add"))
    assert response.status_code == 200

    response = client.post(
        url("apiclient_add"),
        {
            "name": "CRM",
            "scopes": ["consent:read", "messages:send"],
            "rate_per_minute": 120,
            "note": "Salesforce",
        },
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    (key,) = shown(response, KEY)
    partner = ApiClient.objects.get()
    assert (partner.name, partner.scopes, partner.rate_per_minute) == (
        "CRM",
        ["consent:read", "messages:send"],
        120,
    )
    assert partner.created_by == staff
    assert partner.key_hash == hash_api_key(key) and key.startswith(f"sms_{partner.prefix}_")
    stored = [str(v) for v in ApiClient.objects.values_list().get()]
    assert not any(key in value for value in stored)  # only its hash is kept
    assert key not in client.get(url("apiclient_change", partner.pk)).content.decode()
    assert key not in client.get(url("apiclient_changelist")).content.decode()
    assert LogEntry.objects.filter(user=staff, object_id=str(partner.pk)).exists()


def test_it_refuses_a_client_without_scopes_or_with_a_taken_name(client, staff):
    create_api_client(name="CRM", scopes=["consent:read"])

    response = client.post(url("apiclient_add"), {"name": "CRM", "rate_per_minute": 60})

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"name", "scopes"}
    assert ApiClient.objects.count() == 1


def test_it_changes_a_clients_scopes(client, staff):
    partner, _ = create_api_client(name="CRM", scopes=["consent:read"])

    response = client.post(
        url("apiclient_change", partner.pk),
        {"name": "CRM", "scopes": ["exports:read"], "rate_per_minute": 30, "note": ""},
    )

    assert response.status_code == 302
    partner.refresh_from_db()
    assert (partner.scopes, partner.rate_per_minute) == (["exports:read"], 30)


def test_it_revokes_a_key(client, staff):
    partner, _ = create_api_client(name="CRM", scopes=["consent:read"])

    response = action(client, "apiclient", "revoke_action", [partner])

    assert "Revoked: done 1, skipped 0." in response.content.decode()
    partner.refresh_from_db()
    assert partner.revoked_at is not None and partner.revoked_by == staff
    again = action(client, "apiclient", "revoke_action", [partner])
    assert "Revoked: done 0, skipped 1." in again.content.decode()


def test_it_rotates_a_key_and_shows_the_new_one_once(client, staff):
    partner, old_key = create_api_client(name="CRM", scopes=["consent:read"])
    revoked, _ = create_api_client(name="Old shop", scopes=["consent:read"])
    action(client, "apiclient", "revoke_action", [revoked])

    response = action(client, "apiclient", "rotate_action", [partner, revoked])

    assert "no-store" in response["Cache-Control"]
    (new_key,) = shown(response, KEY)
    partner.refresh_from_db()
    assert partner.key_hash == hash_api_key(new_key) != hash_api_key(old_key)
    assert "Skipped (revoked): 1" in response.content.decode()


def test_it_never_deletes_a_client(client, staff):
    partner, _ = create_api_client(name="CRM", scopes=["consent:read"])

    assert client.get(url("apiclient_delete", partner.pk)).status_code == 403
    assert "delete_selected" not in client.get(url("apiclient_changelist")).content.decode()


def test_it_keeps_partners_from_the_marketing_persona(client):
    client.force_login(marketer())

    for name in ["apiclient", "webhooksubscription", "webhookdelivery"]:
        assert client.get(url(f"{name}_changelist")).status_code == 403


# --- Webhook subscriptions ------------------------------------------------------------------


def test_it_creates_a_subscription_and_shows_its_secret_once(client, staff, receiver):
    response = client.post(
        url("webhooksubscription_add"),
        {"name": "Helpdesk", "url": receiver.url, "events": ["conversation.opened"]},
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    (secret,) = shown(response, SECRET)
    subscription = WebhookSubscription.objects.get()
    assert (subscription.url, subscription.events, subscription.secret) == (
        receiver.url,
        ["conversation.opened"],
        secret,
    )
    change = client.get(url("webhooksubscription_change", subscription.pk))
    assert change.status_code == 200 and secret not in change.content.decode()


@pytest.mark.parametrize(
    ("address", "error"),
    [("ftp://partner.example/", "http:// or https://"), ("http://10.0.0.7/", "private or local")],
)
def test_it_refuses_a_url_it_may_not_post_to(client, staff, settings, address, error):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    response = client.post(
        url("webhooksubscription_add"),
        {"name": "Helpdesk", "url": address, "events": ["conversation.opened"]},
    )

    assert response.status_code == 200
    assert error in str(response.context["adminform"].form.errors["url"])
    assert not WebhookSubscription.objects.exists()


def test_it_edits_a_subscription(client, staff, subscribe, receiver):
    subscription, _ = subscribe()

    response = client.post(
        url("webhooksubscription_change", subscription.pk),
        {"name": "Desk", "url": receiver.url + "/v2", "events": ["message.failed"]},
    )

    assert response.status_code == 302
    subscription.refresh_from_db()
    assert (subscription.name, subscription.events) == ("Desk", ["message.failed"])
    assert subscription.url.endswith("/v2")


def test_it_lists_subscriptions_with_their_status(client, staff, subscribe):
    subscribe(name="Working")
    broken, _ = subscribe(name="Broken")
    WebhookSubscription.objects.filter(pk=broken.pk).update(
        disabled_at="2025-01-31T10:00:00Z", consecutive_failures=10
    )

    response = client.get(url("webhooksubscription_changelist"))

    assert response.status_code == 200
    text = response.content.decode()
    assert "Enabled" in text and "Disabled since 2025-01-31" in text
    disabled = client.get(url("webhooksubscription_changelist"), {"enabled": "no"})
    assert list(disabled.context["cl"].result_list) == [broken]


def test_it_disables_and_enables_a_subscription(client, staff, subscribe):
    subscription, _ = subscribe()
    webhook_emit(event_type="consent.opted_out", data={})

    response = action(client, "webhooksubscription", "disable_action", [subscription])

    assert "Disabled: done 1, skipped 0." in response.content.decode()
    subscription.refresh_from_db()
    assert not subscription.enabled
    assert subscription.disabled_reason == f"disabled by {staff.username}"
    assert WebhookDelivery.objects.get().status == "failed"

    WebhookSubscription.objects.filter(pk=subscription.pk).update(consecutive_failures=4)
    response = action(client, "webhooksubscription", "enable_action", [subscription])

    assert "Enabled: done 1, skipped 0." in response.content.decode()
    subscription.refresh_from_db()
    assert subscription.enabled and subscription.consecutive_failures == 0


def test_it_rotates_a_signing_secret_and_shows_it_once(client, staff, subscribe):
    subscription, old = subscribe()

    response = action(client, "webhooksubscription", "rotate_secret_action", [subscription])

    (secret,) = shown(response, SECRET)
    subscription.refresh_from_db()
    assert subscription.secret == secret != old


def test_it_sends_a_ping(client, staff, subscribe, receiver):
    subscription, _ = subscribe()

    response = action(client, "webhooksubscription", "ping_action", [subscription])

    assert "done 1, skipped 0" in response.content.decode()
    webhook_deliver_due()
    (request,) = receiver.requests
    assert request.headers["X-SMS-Event"] == "ping"
    assert WebhookDelivery.objects.get().status == "delivered"


def test_it_never_deletes_a_subscription(client, staff, subscribe):
    subscription, _ = subscribe()

    assert client.get(url("webhooksubscription_delete", subscription.pk)).status_code == 403


# --- Delivery log ---------------------------------------------------------------------------


@pytest.fixture
def log(subscribe, receiver) -> list[WebhookDelivery]:
    """Two deliveries: one delivered, one failed once (pending)."""
    subscribe(events=["consent.opted_out", "message.failed"])
    webhook_emit(event_type="consent.opted_out", data={"phone": "+14155552671"})
    webhook_deliver_due()
    receiver.answers = [500]
    webhook_emit(event_type="message.failed", data={"message_id": 1})
    webhook_deliver_due()
    return list(WebhookDelivery.objects.order_by("pk"))


def test_it_shows_the_delivery_log_without_counting(client, staff, log):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url("webhookdelivery_changelist"))

    assert response.status_code == 200
    assert not [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert "HTTP 500" in response.content.decode()
    failed = client.get(url("webhookdelivery_changelist"), {"event_type__exact": "message.failed"})
    assert list(failed.context["cl"].result_list) == [log[1]]
    delivered = client.get(url("webhookdelivery_changelist"), {"status__exact": "delivered"})
    assert list(delivered.context["cl"].result_list) == [log[0]]


def test_it_finds_a_delivery_by_event_id_or_delivery_id(client, staff, log):
    def found(q):
        return list(
            client.get(url("webhookdelivery_changelist"), {"q": q}).context["cl"].result_list
        )

    assert found(str(log[1].event_id)) == [log[1]]
    assert found(str(log[0].pk)) == [log[0]]
    assert found("not-an-id") == []


def test_it_shows_a_delivery_read_only(client, staff, log):
    response = client.get(url("webhookdelivery_change", log[0].pk))

    assert response.status_code == 200
    assert "+14155552671" in response.content.decode()  # the payload
    assert b'name="_save"' not in response.content
    assert client.get(url("webhookdelivery_add")).status_code == 403


def test_it_retries_a_delivery_now(client, staff, log):
    response = action(client, "webhookdelivery", "retry_now_action", log)

    assert "done 1, skipped 1" in response.content.decode()  # the delivered one is skipped
    log[1].refresh_from_db()
    assert log[1].status == "pending" and log[1].next_attempt_at <= timezone.now()
    webhook_deliver_due()
    log[1].refresh_from_db()
    assert (log[1].status, log[1].attempts) == ("delivered", 2)


def test_it_keeps_the_retry_from_whoever_may_only_look(client, log):
    viewer = create_user("viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhookdelivery"))
    client.force_login(viewer)

    response = client.get(url("webhookdelivery_changelist"))

    assert response.status_code == 200
    assert "retry_now_action" not in response.content.decode()
