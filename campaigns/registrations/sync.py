"""Sync registrations with Twilio's A2P APIs through the official `twilio` client.

- `registration_import()`: brands (Messaging v1 BrandRegistrations), the 10DLC campaigns of
  every Messaging Service (Services/{sid}/Compliance/Usa2p) and toll-free verifications
  (Tollfree/Verifications): new ones become records, known ones get their status refreshed.
- `registration_refresh(registration=...)`: one registration's status and throughput.
- `registration_submit(registration=..., by=...)`: create the 10DLC campaign or the toll-free
  verification at Twilio from the newest frozen snapshot, or update the one it already has.
  Short codes have no application API (Twilio's console takes them): refused with that reason.

Every call reads all it needs from Twilio first and writes locally in one transaction after:
a provider error (401, 404, 429, 5xx, a timeout) is a `SyncError` with a clear message and
nothing is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from messaging.models import SenderKind

from .models import (
    Brand,
    BrandStatus,
    EntityType,
    Registration,
    RegistrationKind,
    RegistrationSnapshot,
    RegistrationStatus,
    SnapshotStatus,
)


class SyncError(Exception):
    """Twilio refused or did not answer; nothing was written."""


#: Twilio statuses -> ours.
BRAND_STATUS = {
    "APPROVED": BrandStatus.APPROVED,
    "PENDING": BrandStatus.PENDING,
    "IN_REVIEW": BrandStatus.PENDING,
    "FAILED": BrandStatus.FAILED,
    "SUSPENDED": BrandStatus.SUSPENDED,
    "DELETED": BrandStatus.SUSPENDED,
}
CAMPAIGN_DECISION = {
    "VERIFIED": "approved",
    "TWILIO_APPROVED": "approved",
    "FAILED": "rejected",
    "TWILIO_REJECTED": "rejected",
    "SUSPENDED": "suspended",
}
#: T-Mobile daily segment caps per brand tier.
TMOBILE_DAILY = {"LOW": 2_000, "MID": 10_000, "HIGH": 40_000, "TOP": 200_000}


def messaging_client() -> Client:
    client = Client(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        http_client=TwilioHttpClient(timeout=settings.TWILIO_TIMEOUT),
    )
    if settings.TWILIO_MESSAGING_BASE_URL:
        client.edge = client.region = None
        client.messaging.base_url = settings.TWILIO_MESSAGING_BASE_URL.rstrip("/")
        # The account's phone numbers (a toll-free verification names its number's PN sid).
        client.api.base_url = settings.TWILIO_MESSAGING_BASE_URL.rstrip("/")
    return client


def _status_of(exc: Exception) -> tuple[int | None, Any, str]:
    """(HTTP status, Twilio error code, message) of a client exception, as far as known.

    A failed request raises TwilioRestException; a failed list page raises a plain
    TwilioException carrying the response."""
    if isinstance(exc, TwilioRestException):
        return exc.status, exc.code, exc.msg
    response = exc.args[1] if len(exc.args) > 1 else None
    status = getattr(response, "status_code", None)
    if status is None:
        return None, None, str(exc)
    try:
        body = json.loads(response.text)
    except (TypeError, ValueError):
        body = {}
    return status, body.get("code"), body.get("message", "")


def _explain(exc: Exception, doing: str) -> SyncError:
    status, code, message = _status_of(exc)
    if status is not None:
        reasons = {
            401: "Twilio refused the credentials (check TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN)",
            403: "Twilio refused the request for this account",
            404: "Twilio does not know this resource",
            429: "Twilio is rate limiting us; try again in a minute",
        }
        reason = reasons.get(status) or (
            f"Twilio had an error (HTTP {status}); try again later"
            if status >= 500
            else f"Twilio refused it (HTTP {status}, error {code}: {message})"
        )
        return SyncError(f"Could not {doing}: {reason}. Nothing was changed.")
    if isinstance(exc, requests.Timeout):
        return SyncError(f"Could not {doing}: Twilio did not answer in time. Nothing was changed.")
    return SyncError(f"Could not {doing}: {exc}. Nothing was changed.")


def _calling(doing: str, call, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except (TwilioRestException, TwilioException, requests.RequestException) as exc:
        raise _explain(exc, doing) from exc


@dataclass
class ImportReport:
    brands_new: int = 0
    brands_updated: int = 0
    registrations_new: int = 0
    registrations_updated: int = 0

    def __str__(self) -> str:
        return (
            f"Brands: {self.brands_new} new, {self.brands_updated} refreshed. "
            f"Registrations: {self.registrations_new} new, "
            f"{self.registrations_updated} refreshed."
        )


def _campaign_content(campaign: Any) -> dict[str, Any]:
    return {
        "use_case": campaign.us_app_to_person_usecase or "",
        "description": campaign.description or "",
        "message_flow": campaign.message_flow or "",
        "message_samples": list(campaign.message_samples or []),
        "opt_in_keywords": list(campaign.opt_in_keywords or []),
        "opt_in_message": campaign.opt_in_message or "",
        "opt_out_keywords": list(campaign.opt_out_keywords or []),
        "opt_out_message": campaign.opt_out_message or "",
        "help_keywords": list(campaign.help_keywords or []),
        "help_message": campaign.help_message or "",
        "has_embedded_links": bool(campaign.has_embedded_links),
        "has_embedded_phone": bool(campaign.has_embedded_phone),
        "age_gated": bool(campaign.age_gated),
        "direct_lending": bool(campaign.direct_lending),
        "subscriber_opt_in": bool(campaign.subscriber_opt_in),
        "privacy_policy_url": campaign.privacy_policy_url or "",
        "terms_url": campaign.terms_and_conditions_url or "",
    }


def _verification_content(verification: Any) -> dict[str, Any]:
    categories = list(verification.use_case_categories or [])
    volume = "".join(ch for ch in (verification.message_volume or "") if ch.isdigit())
    return {
        "use_case": categories[0] if categories else "",
        "sub_use_cases": categories[1:],
        "description": verification.use_case_summary or "",
        "message_samples": [verification.production_message_sample or ""],
        "opt_in_type": verification.opt_in_type or "",
        "opt_in_image_urls": list(verification.opt_in_image_urls or []),
        "monthly_volume": int(volume) if volume else None,
        "privacy_policy_url": verification.privacy_policy_url or "",
    }


def _throughput(campaign: Any) -> dict[str, int | None]:
    limits = campaign.rate_limits or {}
    att = (limits.get("att") or {}).get("mps")
    tier = (limits.get("tmobile") or {}).get("brand_tier")
    return {
        "att_messages_per_minute": int(float(att) * 60) if att else None,
        "tmobile_daily_segments": TMOBILE_DAILY.get(str(tier).upper()) if tier else None,
    }


def _record_snapshot(registration: Registration, content: dict[str, Any]) -> RegistrationSnapshot:
    """What Twilio holds, as a submitted snapshot (a record of fact, not checked again)."""
    return RegistrationSnapshot.objects.create(
        registration=registration,
        status=SnapshotStatus.SUBMITTED,
        submitted_at=timezone.now(),
        **content,
    )


def _apply_decision(registration: Registration, provider_status: str, reason: str = "") -> None:
    decision = CAMPAIGN_DECISION.get((provider_status or "").upper())
    snapshot = (
        registration.snapshots.filter(status=SnapshotStatus.SUBMITTED).order_by("-number").first()
    )
    note = f"Twilio: {provider_status}"
    if decision == "approved" and snapshot is not None:
        snapshot.approve(note=note)
    elif decision == "rejected" and snapshot is not None:
        snapshot.reject(note=reason or note)
    elif decision == "suspended" and registration.status != RegistrationStatus.SUSPENDED:
        registration.suspend(note=reason or note)


def _brand_fields(remote: Any) -> dict[str, Any]:
    return {
        "registry_brand_id": remote.tcr_id or "",
        "identity_status": remote.identity_status or "UNVERIFIED",
        "trust_score": remote.brand_score,
        "failure_reason": remote.failure_reason or "",
        "synced_at": timezone.now(),
    }


def _store_brand(remote: Any, report: ImportReport) -> Brand:
    brand = Brand.objects.filter(provider_sid=remote.sid).first()
    if brand is None:
        brand = Brand.objects.create(
            provider_sid=remote.sid,
            entity_type=EntityType.PRIVATE_PROFIT,
            legal_name=f"Imported brand {remote.sid}",
            display_name=f"Brand {remote.tcr_id or remote.sid}",
            **_brand_fields(remote),
        )
        report.brands_new += 1
    else:
        Brand.objects.filter(pk=brand.pk).update(**_brand_fields(remote))
        report.brands_updated += 1
    status = BRAND_STATUS.get((remote.status or "").upper())
    if status:
        brand.set_status(status, note=f"Twilio: {remote.status}")
    return brand


def registration_import() -> ImportReport:
    """Import and refresh every brand, 10DLC campaign and toll-free verification."""
    client = messaging_client()
    v1 = client.messaging.v1
    remote_brands = _calling("list brands", v1.brand_registrations.list)
    services = _calling("list Messaging Services", v1.services.list)
    campaigns = [
        (service.sid, campaign)
        for service in services
        for campaign in _calling(
            f"list the campaigns of {service.sid}", v1.services(service.sid).us_app_to_person.list
        )
    ]
    verifications = _calling("list toll-free verifications", v1.tollfree_verifications.list)

    report = ImportReport()
    with transaction.atomic():
        brands = {remote.sid: _store_brand(remote, report) for remote in remote_brands}
        for service_sid, campaign in campaigns:
            brand = brands.get(campaign.brand_registration_sid)
            if brand is None:
                raise SyncError(
                    f"Campaign {campaign.sid} names brand {campaign.brand_registration_sid}, "
                    "which Twilio did not list. Nothing was changed."
                )
            _store_registration(
                report,
                sid=campaign.sid,
                kind=RegistrationKind.CAMPAIGN_10DLC,
                brand=brand,
                name=f"{campaign.us_app_to_person_usecase} campaign {campaign.sid[-6:]}",
                fields={
                    "messaging_service_sid": service_sid,
                    "registry_campaign_id": campaign.campaign_id or "",
                    **_throughput(campaign),
                },
                content=_campaign_content(campaign),
                provider_status=campaign.campaign_status,
            )
        for verification in verifications:
            brand = next(iter(brands.values()), None) or Brand.objects.first()
            if brand is None:
                continue
            _store_registration(
                report,
                sid=verification.sid,
                kind=RegistrationKind.TOLL_FREE,
                brand=brand,
                name=f"Toll-free {verification.tollfree_phone_number or verification.sid[-6:]}",
                fields={},
                content=_verification_content(verification),
                provider_status=verification.status,
                reason=verification.rejection_reason or "",
            )
    return report


def _store_registration(
    report: ImportReport,
    *,
    sid: str,
    kind: str,
    brand: Brand,
    name: str,
    fields: dict[str, Any],
    content: dict[str, Any],
    provider_status: str,
    reason: str = "",
) -> None:
    registration = Registration.objects.filter(provider_sid=sid).first()
    if registration is None:
        registration = Registration.objects.create(
            provider_sid=sid, kind=kind, brand=brand, name=name, synced_at=timezone.now(), **fields
        )
        _record_snapshot(registration, content)
        report.registrations_new += 1
    else:
        Registration.objects.filter(pk=registration.pk).update(synced_at=timezone.now(), **fields)
        registration.refresh_from_db()
        in_force = registration.approved_snapshot
        changed = in_force is not None and in_force.content() | content != in_force.content()
        if changed and not registration.snapshots.filter(status=SnapshotStatus.SUBMITTED).exists():
            _record_snapshot(registration, in_force.content() | content)
        report.registrations_updated += 1
    _apply_decision(registration, provider_status, reason)


def registration_refresh(*, registration: Registration) -> None:
    """Fetch one registration's status (and throughput) from Twilio."""
    if not registration.provider_sid:
        raise SyncError(f"{registration} has not been submitted to Twilio yet.")
    v1 = messaging_client().messaging.v1
    if registration.kind == RegistrationKind.TOLL_FREE:
        remote = _calling(
            "fetch the verification", v1.tollfree_verifications(registration.provider_sid).fetch
        )
        status, reason, fields = remote.status, remote.rejection_reason or "", {}
    else:
        remote = _calling(
            "fetch the campaign",
            v1.services(registration.messaging_service_sid)
            .us_app_to_person(registration.provider_sid)
            .fetch,
        )
        status, reason = remote.campaign_status, ""
        fields = {"registry_campaign_id": remote.campaign_id or "", **_throughput(remote)}
    with transaction.atomic():
        Registration.objects.filter(pk=registration.pk).update(synced_at=timezone.now(), **fields)
        registration.refresh_from_db()
        _apply_decision(registration, status, reason)


def registration_submit(*, registration: Registration, by) -> RegistrationSnapshot:
    """Send the newest frozen (submitted) snapshot to Twilio: create the 10DLC campaign or the
    toll-free verification, or update it when it exists."""
    if registration.kind == RegistrationKind.SHORT_CODE:
        raise SyncError(
            "Short codes are applied for in Twilio's console (there is no API for it): "
            "record the carriers' approval here when it comes."
        )
    snapshot = (
        registration.snapshots.filter(status=SnapshotStatus.SUBMITTED).order_by("-number").first()
    )
    if snapshot is None:
        raise SyncError("Submit (freeze) a snapshot first; drafts are never sent to Twilio.")
    if registration.kind == RegistrationKind.TOLL_FREE:
        return _submit_toll_free(registration, snapshot)
    if not registration.messaging_service_sid or not registration.brand.provider_sid:
        raise SyncError("The registration needs a Messaging Service and a brand known to Twilio.")
    service = messaging_client().messaging.v1.services(registration.messaging_service_sid)
    common = {
        "has_embedded_links": snapshot.has_embedded_links,
        "has_embedded_phone": snapshot.has_embedded_phone,
        "message_samples": snapshot.message_samples,
        "message_flow": snapshot.message_flow,
        "description": snapshot.description,
        "age_gated": snapshot.age_gated,
        "direct_lending": snapshot.direct_lending,
        "privacy_policy_url": snapshot.privacy_policy_url or None,
        "terms_and_conditions_url": snapshot.terms_url or None,
    }
    common = {k: v for k, v in common.items() if v is not None}
    if registration.provider_sid:
        remote = _calling(
            "update the campaign",
            service.us_app_to_person(registration.provider_sid).update,
            **common,
        )
    else:
        remote = _calling(
            "create the campaign",
            service.us_app_to_person.create,
            brand_registration_sid=registration.brand.provider_sid,
            us_app_to_person_usecase=snapshot.use_case,
            subscriber_opt_in=snapshot.subscriber_opt_in,
            opt_in_message=snapshot.opt_in_message or None,
            opt_out_message=snapshot.opt_out_message or None,
            help_message=snapshot.help_message or None,
            opt_in_keywords=snapshot.opt_in_keywords or None,
            opt_out_keywords=snapshot.opt_out_keywords or None,
            help_keywords=snapshot.help_keywords or None,
            **common,
        )
    with transaction.atomic():
        Registration.objects.filter(pk=registration.pk).update(
            provider_sid=remote.sid, synced_at=timezone.now()
        )
        registration.refresh_from_db()
        _apply_decision(registration, remote.campaign_status)
    return snapshot


#: Fields Twilio requires to create a toll-free verification, as the admin names them.
TOLL_FREE_REQUIRED = {
    "business_name": "the brand's legal name",
    "business_website": "the brand's website",
    "notification_email": "the brand's support e-mail",
    "use_case_categories": "the use case",
    "use_case_summary": "the description",
    "production_message_sample": "a message sample",
    "opt_in_image_urls": "opt-in image URLs",
    "opt_in_type": "the opt-in type",
    "message_volume": "the monthly volume",
}


def _toll_free_content(registration: Registration, snapshot: RegistrationSnapshot) -> dict:
    brand = registration.brand
    content = {
        "business_name": brand.legal_name,
        "business_website": brand.website,
        "notification_email": brand.support_email,
        "use_case_categories": [c for c in [snapshot.use_case, *snapshot.sub_use_cases] if c],
        "use_case_summary": snapshot.description,
        "production_message_sample": (snapshot.message_samples or [""])[0],
        "opt_in_image_urls": list(snapshot.opt_in_image_urls or []),
        "opt_in_type": snapshot.opt_in_type,
        "message_volume": str(snapshot.monthly_volume or ""),
        "business_street_address": brand.street,
        "business_city": brand.city,
        "business_state_province_region": brand.region,
        "business_postal_code": brand.postal_code,
        "business_country": brand.country,
        "opt_in_confirmation_message": snapshot.opt_in_message,
        "help_message_sample": snapshot.help_message,
        "privacy_policy_url": snapshot.privacy_policy_url,
        "terms_and_conditions_url": snapshot.terms_url,
        "age_gated_content": snapshot.age_gated,
        "opt_in_keywords": list(snapshot.opt_in_keywords or []),
    }
    missing = [label for name, label in TOLL_FREE_REQUIRED.items() if not content[name]]
    if missing:
        raise SyncError("Twilio needs " + ", ".join(missing) + " for a toll-free verification.")
    return {k: v for k, v in content.items() if v not in ("", [], None)}


def _submit_toll_free(
    registration: Registration, snapshot: RegistrationSnapshot
) -> RegistrationSnapshot:
    """Create (or update) the toll-free verification of the registration's toll-free number."""
    content = _toll_free_content(registration, snapshot)
    client = messaging_client()
    verifications = client.messaging.v1.tollfree_verifications
    if registration.provider_sid:
        remote = _calling(
            "update the verification", verifications(registration.provider_sid).update, **content
        )
    else:
        sender = registration.senders.filter(kind=SenderKind.TOLL_FREE).order_by("pk").first()
        if sender is None:
            raise SyncError("Link the toll-free number (its sender) to the registration first.")
        numbers = _calling(
            "find the toll-free number",
            client.api.v2010.account.incoming_phone_numbers.list,
            phone_number=sender.phone_number,
            limit=1,
        )
        if not numbers:
            raise SyncError(f"{sender.phone_number} is not a number of this Twilio account.")
        remote = _calling(
            "create the verification",
            verifications.create,
            tollfree_phone_number_sid=numbers[0].sid,
            **content,
        )
    with transaction.atomic():
        Registration.objects.filter(pk=registration.pk).update(
            provider_sid=remote.sid, synced_at=timezone.now()
        )
        registration.refresh_from_db()
        _apply_decision(registration, remote.status, remote.rejection_reason or "")
    return snapshot
