"""Partner systems: API clients, webhook subscriptions, and the log of webhook deliveries.

Keys and signing secrets are shown once, on the page that answers the add (or the rotate
action) itself: never in a message cookie, never again. Only a key's hash is stored. Every
change goes through `messaging.api_clients` or `messaging.partner_webhooks`; the admin asks,
reports ("done N, skipped M") and writes its LogEntry. Nothing here is ever deleted: past
records name the client, and a subscription's deliveries are its log.
"""

from __future__ import annotations

import json
import uuid

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from config.lib.admin_tools import BigTableAdmin, ReadOnlyAdminMixin, admin_time

from .. import partner_webhooks as webhooks
from ..api_clients import api_client_create, api_client_revoke, api_client_rotate
from ..models import (
    ApiClient,
    DeliveryStatus,
    Scope,
    WebhookDelivery,
    WebhookEventType,
    WebhookSubscription,
)


def _outcome(modeladmin: admin.ModelAdmin, request, what: str, done: int, skipped: int) -> None:
    level = messages.SUCCESS if done else messages.WARNING
    modeladmin.message_user(request, f"{what}: done {done}, skipped {skipped}.", level)


def shown_once(
    request: HttpRequest,
    modeladmin: admin.ModelAdmin,
    *,
    title: str,
    secrets: list[tuple[str, str]],
    note: str,
) -> TemplateResponse:
    """The one page that shows new keys or secrets: (whose, value) pairs. Never cached."""
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "secrets": secrets,
        "note": note,
        "opts": modeladmin.model._meta,
    }
    response = TemplateResponse(request, "admin/messaging/shown_once.html", context)
    response["Cache-Control"] = "no-store"
    return response


def _copy_into(target, source) -> None:
    """The admin's unsaved object becomes the one the service made (for its log and redirect)."""
    for field in type(source)._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    target._state.adding = False


# --- API clients ----------------------------------------------------------------------------


class ApiClientForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="What this client may do.",
    )

    class Meta:
        model = ApiClient
        fields = ["name", "scopes", "rate_per_minute", "note"]


class RevokedFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "revoked"

    def lookups(self, request, model_admin):
        return [("no", "Active"), ("yes", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(revoked_at__isnull=self.value() == "no")
        return queryset


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    form = ApiClientForm
    list_display = [
        "name",
        "prefix",
        "scope_list",
        "rate_per_minute",
        "last_used_at",
        "status",
        "created_at",
    ]
    list_filter = [RevokedFilter]
    search_fields = ["name", "=prefix"]
    search_help_text = "A name, or a key's visible prefix (the 8 characters after “sms_”)."
    actions = ["revoke_action", "rotate_action"]
    readonly_fields = [
        "prefix",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    ]

    def get_fields(self, request, obj=None):
        editable = ["name", "scopes", "rate_per_minute", "note"]
        return editable if obj is None else editable + self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: past records name the client

    @admin.display(description="Scopes")
    def scope_list(self, client: ApiClient) -> str:
        return ", ".join(client.scopes or []) or "—"

    @admin.display(description="Status", ordering="revoked_at")
    def status(self, client: ApiClient) -> str:
        if client.revoked_at is None:
            return "Active"
        return f"Revoked {admin_time(client.revoked_at)}"

    def save_model(self, request, obj: ApiClient, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        data = form.cleaned_data
        client, key = api_client_create(
            name=data["name"],
            scopes=list(data["scopes"]),
            rate_per_minute=data["rate_per_minute"],
            note=data["note"],
            by=request.user,
        )
        _copy_into(obj, client)
        request._new_api_key = key

    def response_add(self, request, obj: ApiClient, post_url_continue=None):
        key = getattr(request, "_new_api_key", None)
        if key is None:
            return super().response_add(request, obj, post_url_continue)
        return shown_once(
            request,
            self,
            title=f"API client “{obj.name}” created",
            secrets=[(f"{obj.name} (prefix {obj.prefix})", key)],
            note="The partner sends it as “Authorization: Bearer <key>”.",
        )

    @admin.action(description="Revoke the key (stops working at once)", permissions=["change"])
    def revoke_action(self, request, queryset):
        done = 0
        for client in queryset:
            if api_client_revoke(client=client, by=request.user):
                self.log_change(request, client, "Revoked the key")
                done += 1
        _outcome(self, request, "Revoked", done, len(queryset) - done)

    @admin.action(description="Rotate the key (shows the new one once)", permissions=["change"])
    def rotate_action(self, request, queryset):
        keys = []
        for client in queryset.filter(revoked_at__isnull=True):
            key = api_client_rotate(client=client)
            self.log_change(request, client, f"Rotated the key (new prefix {client.prefix})")
            keys.append((f"{client.name} (prefix {client.prefix})", key))
        if not keys:
            _outcome(self, request, "Rotated (revoked clients are skipped)", 0, len(queryset))
            return None
        return shown_once(
            request,
            self,
            title="New API keys",
            secrets=keys,
            note=f"The old keys stopped working. Skipped (revoked): {len(queryset) - len(keys)}.",
        )


# --- Webhook subscriptions ------------------------------------------------------------------


class SubscriptionForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https", label="URL")
    events = forms.MultipleChoiceField(
        choices=WebhookEventType.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="Event types sent to this URL.",
    )

    class Meta:
        model = WebhookSubscription
        fields = ["name", "url", "events", "client"]

    def clean_url(self) -> str:
        try:
            return webhooks.check_url(self.cleaned_data["url"])
        except webhooks.WebhookError as exc:
            raise forms.ValidationError(str(exc)) from exc


class EnabledFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "enabled"

    def lookups(self, request, model_admin):
        return [("yes", "Enabled"), ("no", "Disabled")]

    def queryset(self, request, queryset):
        enabled = {"active": True, "disabled_at__isnull": True}
        if self.value() == "yes":
            return queryset.filter(**enabled)
        if self.value() == "no":
            return queryset.exclude(**enabled)
        return queryset


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = [
        "name",
        "url",
        "client",
        "event_list",
        "status",
        "consecutive_failures",
        "created_at",
    ]
    list_filter = [EnabledFilter]
    list_select_related = ["client"]
    search_fields = ["name", "url"]
    actions = ["enable_action", "disable_action", "rotate_secret_action", "ping_action"]
    readonly_fields = [
        "status",
        "consecutive_failures",
        "disabled_reason",
        "created_at",
        "deliveries",
    ]

    def get_fields(self, request, obj=None):
        editable = ["name", "url", "events", "client"]
        return editable if obj is None else editable + self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # disable instead: its deliveries are the log

    @admin.display(description="Events")
    def event_list(self, subscription: WebhookSubscription) -> str:
        return ", ".join(subscription.events or []) or "—"

    @admin.display(description="Status")
    def status(self, subscription: WebhookSubscription) -> str:
        if subscription.enabled:
            return "Enabled"
        if subscription.disabled_at is None:
            return "Disabled"
        return f"Disabled since {admin_time(subscription.disabled_at)}"

    @admin.display(description="Deliveries")
    def deliveries(self, subscription: WebhookSubscription) -> str:
        url = reverse("admin:messaging_webhookdelivery_changelist")
        return format_html(
            '<a href="{}?subscription__id__exact={}">The log</a>', url, subscription.pk
        )

    def save_model(self, request, obj: WebhookSubscription, form, change: bool) -> None:
        data = form.cleaned_data
        fields = {
            "name": data["name"],
            "url": data["url"],
            "events": list(data["events"]),
            "client": data.get("client"),
        }
        if change:
            webhooks.webhook_subscription_update(subscription=obj, **fields)
            return
        subscription, secret = webhooks.webhook_subscription_create(**fields)
        _copy_into(obj, subscription)
        request._new_webhook_secret = secret

    def response_add(self, request, obj: WebhookSubscription, post_url_continue=None):
        secret = getattr(request, "_new_webhook_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        return shown_once(
            request,
            self,
            title=f"Webhook subscription “{obj.name}” created",
            secrets=[(obj.name, secret)],
            note="The partner checks each delivery's X-SMS-Signature header with it.",
        )

    @admin.action(description="Enable (count failures from zero)", permissions=["change"])
    def enable_action(self, request, queryset):
        done = 0
        for subscription in queryset:
            if webhooks.webhook_subscription_enable(subscription=subscription):
                self.log_change(request, subscription, "Enabled")
                done += 1
        _outcome(self, request, "Enabled", done, len(queryset) - done)

    @admin.action(description="Disable (pending deliveries fail)", permissions=["change"])
    def disable_action(self, request, queryset):
        done = 0
        reason = f"disabled by {request.user.get_username()}"
        for subscription in queryset:
            if webhooks.webhook_subscription_disable(subscription=subscription, reason=reason):
                self.log_change(request, subscription, "Disabled")
                done += 1
        _outcome(self, request, "Disabled", done, len(queryset) - done)

    @admin.action(description="Rotate the signing secret (shows it once)", permissions=["change"])
    def rotate_secret_action(self, request, queryset):
        rotated = []
        for subscription in queryset:
            secret = webhooks.webhook_secret_rotate(subscription=subscription)
            self.log_change(request, subscription, "Rotated the signing secret")
            rotated.append((subscription.name, secret))
        return shown_once(
            request,
            self,
            title="New signing secrets",
            secrets=rotated,
            note="Deliveries from now on are signed with these; the old secrets no longer are.",
        )

    @admin.action(description="Send a test event (ping)", permissions=["change"])
    def ping_action(self, request, queryset):
        done = 0
        for subscription in queryset:
            if webhooks.webhook_ping(subscription=subscription) is not None:
                done += 1
        _outcome(self, request, "Ping queued (see the delivery log)", done, len(queryset) - done)


# --- Delivery log ---------------------------------------------------------------------------


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, BigTableAdmin):
    list_display = [
        "id",
        "created_at",
        "event_type",
        "subscription",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt",
        "error",
    ]
    list_filter = ["status", "event_type", "subscription"]
    list_select_related = ["subscription"]
    search_fields = ["event_id"]
    search_help_text = "An event id (the payload's “id”) or a delivery id (X-SMS-Delivery)."
    actions = ["retry_now_action"]
    fields = [
        "subscription",
        "event_id",
        "event_type",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "created_at",
        "delivered_at",
        "payload_json",
    ]
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isdigit():
            return queryset.filter(pk=int(term)), False
        try:
            return queryset.filter(event_id=uuid.UUID(term)), False
        except ValueError:
            return queryset.none(), False

    @admin.display(description="Next attempt", ordering="next_attempt_at")
    def next_attempt(self, delivery: WebhookDelivery):
        return delivery.next_attempt_at if delivery.status == DeliveryStatus.PENDING else "—"

    @admin.display(description="Last error")
    def error(self, delivery: WebhookDelivery) -> str:
        text = delivery.last_error
        return text if len(text) <= 80 else text[:79] + "…"

    @admin.display(description="Payload")
    def payload_json(self, delivery: WebhookDelivery) -> str:
        return format_html(
            "<pre>{}</pre>", json.dumps(delivery.payload, indent=2, ensure_ascii=False)
        )

    def has_retry_permission(self, request) -> bool:
        # The log itself is read-only; whoever may change subscriptions may push one again.
        return request.user.has_perm("messaging.change_webhooksubscription")

    @admin.action(description="Retry now", permissions=["retry"])
    def retry_now_action(self, request, queryset):
        done = sum(
            webhooks.webhook_delivery_retry_now(delivery=delivery)
            for delivery in queryset.select_related(None)
        )
        _outcome(
            self,
            request,
            "Queued again (delivered ones and disabled subscriptions are skipped)",
            done,
            len(queryset) - done,
        )
