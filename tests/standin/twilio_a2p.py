"""A local stand-in for Twilio's Messaging v1 registration APIs, on 127.0.0.1.

Tests drive the real `twilio` client against it: point `TWILIO_MESSAGING_BASE_URL` at
`standin.url` with its account SID and auth token (`standin.django_settings()`).

What it answers, in Twilio's shapes (list pages carry `meta.key` and `next_page_url`):

- `GET /v1/a2p/BrandRegistrations[/{BN…}]`
- `GET /v1/Services` (Messaging Services)
- `GET|POST /v1/Services/{MG…}/Compliance/Usa2p[/{QE…}]` (list, fetch, create, update)
- `GET|POST /v1/Tollfree/Verifications[/{HH…}]` (list, fetch, create, update; a create needs
  every parameter Twilio requires and a number of the account: 400 otherwise)
- `GET /2010-04-01/Accounts/{AC…}/IncomingPhoneNumbers.json?PhoneNumber=` (the account's numbers)
- HTTP basic auth (account SID + auth token) on every path: 401 otherwise.

What a test can make it do: answer N requests (after M good ones) with an HTTP error (`fail_next`,
e.g. 429, 500, 503), hang past the client's timeout (`hang_next`), and hold any brands, services,
campaigns, verifications and phone numbers (`add_brand`, `add_service`, `add_campaign`,
`add_verification`, `add_number`).
It records every request (`requests`).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

ACCOUNT_SID = "AC" + "a2a2a2a2" * 4
AUTH_TOKEN = "a2p0" * 8


def _sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


class A2PStandin:
    def __init__(self) -> None:
        self.brands: dict[str, dict[str, Any]] = {}
        self.services: dict[str, dict[str, Any]] = {}
        self.campaigns: dict[str, dict[str, dict[str, Any]]] = {}
        self.verifications: dict[str, dict[str, Any]] = {}
        self.numbers: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self._failures: list[int | None] = []
        self._hangs: list[float] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- running ----------------------------------------------------------------------------

    def start(self) -> A2PStandin:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                standin._handle(self, "GET")

            def do_POST(self) -> None:
                standin._handle(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def django_settings(self) -> dict[str, Any]:
        return {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_MESSAGING_BASE_URL": self.url,
            "TWILIO_TIMEOUT": 1.0,
        }

    # --- steering -----------------------------------------------------------------------------

    def fail_next(self, status: int, count: int = 1, *, after: int = 0) -> None:
        """Answer `count` requests with HTTP `status`, once `after` more have gone through."""
        with self._lock:
            self._failures += [None] * after + [status] * count

    def hang_next(self, seconds: float = 3.0) -> None:
        with self._lock:
            self._hangs.append(seconds)

    def add_brand(self, **fields: Any) -> dict[str, Any]:
        sid = fields.pop("sid", None) or _sid("BN")
        brand = {
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "customer_profile_bundle_sid": _sid("BU"),
            "a2p_profile_bundle_sid": _sid("BU"),
            "brand_type": "STANDARD",
            "status": "APPROVED",
            "tcr_id": "B" + uuid.uuid4().hex[:6].upper(),
            "failure_reason": None,
            "brand_score": 75,
            "identity_status": "VERIFIED",
            "date_created": "2026-01-05T10:00:00Z",
            "date_updated": "2026-01-06T10:00:00Z",
            "url": f"https://messaging.twilio.com/v1/a2p/BrandRegistrations/{sid}",
        } | fields
        self.brands[sid] = brand
        return brand

    def add_service(self, **fields: Any) -> dict[str, Any]:
        sid = fields.pop("sid", None) or _sid("MG")
        service = {"sid": sid, "account_sid": ACCOUNT_SID, "friendly_name": "Acme"} | fields
        self.services[sid] = service
        self.campaigns.setdefault(sid, {})
        return service

    def add_campaign(self, service_sid: str, brand_sid: str, **fields: Any) -> dict[str, Any]:
        sid = fields.pop("sid", None) or _sid("QE")
        campaign = {
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "brand_registration_sid": brand_sid,
            "messaging_service_sid": service_sid,
            "description": "Acme Outdoor sends offers to customers who opted in online.",
            "message_samples": [
                "Acme: [first name], 20% off at https://acme.example/sale Reply STOP to opt out",
                "Acme: tents are back in stock at https://acme.example/t Reply STOP to opt out",
            ],
            "us_app_to_person_usecase": "MARKETING",
            "has_embedded_links": True,
            "has_embedded_phone": False,
            "subscriber_opt_in": True,
            "age_gated": False,
            "direct_lending": False,
            "campaign_status": "VERIFIED",
            "campaign_id": "C" + uuid.uuid4().hex[:6].upper(),
            "is_externally_registered": False,
            "rate_limits": {"att": {"mps": 10, "msg_class": "E"}, "tmobile": {"brand_tier": "LOW"}},
            "message_flow": "Customers opt in on the web form at https://acme.example/join.",
            "opt_in_message": None,
            "opt_out_message": None,
            "help_message": None,
            "opt_in_keywords": None,
            "opt_out_keywords": None,
            "help_keywords": None,
            "privacy_policy_url": "https://acme.example/privacy",
            "terms_and_conditions_url": None,
            "date_created": "2026-01-07T10:00:00Z",
            "date_updated": "2026-01-08T10:00:00Z",
            "url": f"https://messaging.twilio.com/v1/Services/{service_sid}/Compliance/Usa2p/{sid}",
            "mock": False,
            "errors": [],
        } | fields
        self.campaigns.setdefault(service_sid, {})[sid] = campaign
        return campaign

    def add_number(self, phone_number: str) -> dict[str, Any]:
        """A phone number of the account (IncomingPhoneNumbers), as a verification names it."""
        number = {"sid": _sid("PN"), "account_sid": ACCOUNT_SID, "phone_number": phone_number}
        self.numbers[number["sid"]] = number
        return number

    def add_verification(self, **fields: Any) -> dict[str, Any]:
        sid = fields.pop("sid", None) or _sid("HH")
        verification = {
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "business_name": "Acme Outdoor",
            "use_case_categories": ["MARKETING"],
            "use_case_summary": "Offers to customers who opted in on the website form.",
            "production_message_sample": "Acme: 20% off tents this weekend. Reply STOP to opt out",
            "opt_in_image_urls": ["https://acme.example/optin.png"],
            "opt_in_type": "WEB_FORM",
            "message_volume": "10,000",
            "tollfree_phone_number": "+18335550199",
            "status": "TWILIO_APPROVED",
            "rejection_reason": None,
            "privacy_policy_url": "https://acme.example/privacy",
            "url": f"https://messaging.twilio.com/v1/Tollfree/Verifications/{sid}",
        } | fields
        self.verifications[sid] = verification
        return verification

    # --- serving ------------------------------------------------------------------------------

    def _reply(self, handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _error(self, handler, status: int, code: int, message: str) -> None:
        self._reply(
            handler,
            status,
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
        )

    def _page(self, handler, path: str, key: str, items: list[dict[str, Any]]) -> None:
        meta = {
            "page": 0,
            "page_size": 50,
            "first_page_url": f"https://messaging.twilio.com{path}?PageSize=50&Page=0",
            "previous_page_url": None,
            "next_page_url": None,
            "url": f"https://messaging.twilio.com{path}?PageSize=50&Page=0",
            "key": key,
        }
        self._reply(handler, 200, {key: items, "meta": meta})

    def _authorized(self, handler) -> bool:
        expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        return handler.headers.get("Authorization", "") == f"Basic {expected}"

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        path = handler.path.split("?")[0].rstrip("/")
        length = int(handler.headers.get("Content-Length") or 0)
        form = parse_qs(handler.rfile.read(length).decode()) if length else {}
        with self._lock:
            self.requests.append((method, path))
            failure = self._failures.pop(0) if self._failures else None
            hang = self._hangs.pop(0) if self._hangs else None
        if hang:
            time.sleep(hang)
        if not self._authorized(handler):
            return self._error(handler, 401, 20003, "Authenticate")
        if failure is not None:
            code = {429: 20429, 404: 20404}.get(failure, 20500)
            return self._error(handler, failure, code, f"Stand-in failure {failure}")
        parts = path.strip("/").split("/")
        if parts[:3] == ["v1", "a2p", "BrandRegistrations"] and method == "GET":
            if len(parts) == 3:
                return self._page(handler, path, "data", list(self.brands.values()))
            if parts[3] in self.brands:
                return self._reply(handler, 200, self.brands[parts[3]])
        elif parts == ["v1", "Services"] and method == "GET":
            return self._page(handler, path, "services", list(self.services.values()))
        elif parts[:2] == ["v1", "Services"] and parts[3:5] == ["Compliance", "Usa2p"]:
            service_sid = parts[2]
            if service_sid in self.services:
                campaigns = self.campaigns.setdefault(service_sid, {})
                if len(parts) == 5 and method == "GET":
                    return self._page(handler, path, "compliance", list(campaigns.values()))
                if len(parts) == 5 and method == "POST":
                    return self._create_campaign(handler, service_sid, form)
                if len(parts) == 6 and parts[5] in campaigns:
                    if method == "GET":
                        return self._reply(handler, 200, campaigns[parts[5]])
                    return self._update_campaign(handler, campaigns[parts[5]], form)
        elif parts[:3] == ["v1", "Tollfree", "Verifications"] and method == "GET":
            if len(parts) == 3:
                return self._page(handler, path, "verifications", list(self.verifications.values()))
            if parts[3] in self.verifications:
                return self._reply(handler, 200, self.verifications[parts[3]])
        elif parts[:3] == ["v1", "Tollfree", "Verifications"] and method == "POST":
            if len(parts) == 3:
                return self._create_verification(handler, form)
            if parts[3] in self.verifications:
                return self._update_verification(handler, self.verifications[parts[3]], form)
        elif parts[-1] == "IncomingPhoneNumbers.json" and method == "GET":
            # api.twilio.com/2010-04-01/Accounts/{AC}/IncomingPhoneNumbers.json?PhoneNumber=
            wanted = parse_qs(handler.path.partition("?")[2]).get("PhoneNumber", [None])[0]
            found = [n for n in self.numbers.values() if wanted in (None, n["phone_number"])]
            return self._reply(
                handler, 200, {"incoming_phone_numbers": found, "next_page_uri": None, "page": 0}
            )
        return self._error(handler, 404, 20404, f"The requested resource {path} was not found")

    @staticmethod
    def _fields(form: dict[str, list[str]]) -> dict[str, Any]:
        one = {k: v[0] for k, v in form.items()}
        fields: dict[str, Any] = {}
        names = {
            "Description": "description",
            "MessageFlow": "message_flow",
            "UsAppToPersonUsecase": "us_app_to_person_usecase",
            "OptInMessage": "opt_in_message",
            "OptOutMessage": "opt_out_message",
            "HelpMessage": "help_message",
            "PrivacyPolicyUrl": "privacy_policy_url",
            "TermsAndConditionsUrl": "terms_and_conditions_url",
            "BrandRegistrationSid": "brand_registration_sid",
        }
        for key, name in names.items():
            if key in one:
                fields[name] = one[key]
        for key, name in (
            ("HasEmbeddedLinks", "has_embedded_links"),
            ("HasEmbeddedPhone", "has_embedded_phone"),
            ("AgeGated", "age_gated"),
            ("DirectLending", "direct_lending"),
            ("SubscriberOptIn", "subscriber_opt_in"),
        ):
            if key in one:
                fields[name] = one[key].lower() == "true"
        for key, name in (
            ("MessageSamples", "message_samples"),
            ("OptInKeywords", "opt_in_keywords"),
            ("OptOutKeywords", "opt_out_keywords"),
            ("HelpKeywords", "help_keywords"),
        ):
            if key in form:
                fields[name] = form[key]
        return fields

    def _create_campaign(self, handler, service_sid: str, form) -> None:
        fields = self._fields(form)
        if fields.get("brand_registration_sid") not in self.brands:
            return self._error(handler, 400, 21711, "BrandRegistrationSid is invalid")
        if not 2 <= len(fields.get("message_samples", [])) <= 5:
            return self._error(handler, 400, 21710, "MessageSamples must hold 2 to 5 samples")
        brand = fields.pop("brand_registration_sid")
        campaign = self.add_campaign(
            service_sid, brand, campaign_status="IN_PROGRESS", campaign_id=None, **fields
        )
        return self._reply(handler, 201, campaign)

    #: Toll-free verification form fields (Messaging v1 Tollfree/Verifications) we keep.
    VERIFICATION_FIELDS = {
        "BusinessName": "business_name",
        "BusinessWebsite": "business_website",
        "NotificationEmail": "notification_email",
        "UseCaseSummary": "use_case_summary",
        "ProductionMessageSample": "production_message_sample",
        "OptInType": "opt_in_type",
        "MessageVolume": "message_volume",
        "TollfreePhoneNumberSid": "tollfree_phone_number_sid",
        "PrivacyPolicyUrl": "privacy_policy_url",
    }
    VERIFICATION_LISTS = {
        "UseCaseCategories": "use_case_categories",
        "OptInImageUrls": "opt_in_image_urls",
    }

    def _verification_fields(self, form: dict[str, list[str]]) -> dict[str, Any]:
        fields = {
            name: form[key][0] for key, name in self.VERIFICATION_FIELDS.items() if key in form
        }
        fields |= {name: form[key] for key, name in self.VERIFICATION_LISTS.items() if key in form}
        return fields

    def _create_verification(self, handler, form) -> None:
        fields = self._verification_fields(form)
        required = [*self.VERIFICATION_FIELDS.values(), *self.VERIFICATION_LISTS.values()]
        missing = [n for n in required if n != "privacy_policy_url" and not fields.get(n)]
        if missing:  # the API's 400 for a missing required parameter
            return self._error(handler, 400, 20001, f"Missing required parameter {missing[0]}")
        number = self.numbers.get(fields.pop("tollfree_phone_number_sid"))
        if number is None:
            return self._error(handler, 400, 21211, "TollfreePhoneNumberSid is invalid")
        verification = self.add_verification(
            status="PENDING_REVIEW", tollfree_phone_number=number["phone_number"], **fields
        )
        return self._reply(handler, 201, verification)

    def _update_verification(self, handler, verification: dict[str, Any], form) -> None:
        verification.update(self._verification_fields(form))
        verification["status"] = "PENDING_REVIEW"  # an edit goes back to review
        return self._reply(handler, 200, verification)

    def _update_campaign(self, handler, campaign: dict[str, Any], form) -> None:
        campaign.update(self._fields(form))
        campaign["campaign_status"] = "IN_PROGRESS"
        return self._reply(handler, 200, campaign)
