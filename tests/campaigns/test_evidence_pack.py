"""The consent evidence pack of one number: what it holds, that its hashes verify, that making it
is recorded, and the three ways to ask for it (command, API, the contact page)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from campaigns.models import EvidencePack
from consent import services
from consent.models import ConsentConfirmation, Disclosure
from messaging.models import (
    InboundMessage,
    MessageEvent,
    MessageStatus,
    OutboundMessage,
    ReassignedNumberCheck,
    StatusCallback,
)
from tests.factories import (
    compliance_approver,
    create_contact,
    create_program,
    create_user,
    support_agent,
)

pytestmark = pytest.mark.django_db

PHONE = "+14155550142"
NOW = timezone.now()
T0 = NOW - timedelta(days=10)  # the revocation (T0 + 2 days) is recorded now: in time


def message(contact, program, body: str, status: str, **fields) -> OutboundMessage:
    return OutboundMessage.objects.create(
        contact=contact,
        to=contact.phone,
        program=program,
        message_type=program.message_type,
        kind="campaign",
        body=body,
        status=status,
        **fields,
    )


@pytest.fixture
def history():
    """A double opt-in, its YES reply, a held then delivered message, a STOP that cancels a
    waiting message and is confirmed, and a reassigned-number check."""
    program = create_program("offers", double_opt_in=True)
    Disclosure.objects.filter(program=program).update(effective_at=T0 - timedelta(days=400))
    contact = create_contact(PHONE, first_name="Ada", email="ada@example.com")
    pending = services.consent_opt_in(
        contact=contact,
        program=program,
        method="web_form",
        source="https://acme.example/join",
        occurred_at=T0,
        evidence={"ip": "203.0.113.7", "user_agent": "Mozilla/5.0"},
    ).event
    request = message(
        contact, program, "Acme: reply YES to confirm.", "delivered", provider_sid="SMrequest"
    )
    ConsentConfirmation.objects.create(event=pending, message_ref=str(request.pk))
    yes = InboundMessage.objects.create(
        provider_sid="SMyes", from_number=PHONE, to_number="+18005550100", body="YES"
    )
    services.consent_confirm(
        contact=contact,
        program=program,
        method="keyword",
        source="YES to +18005550100",
        occurred_at=T0 + timedelta(minutes=2),
        evidence={"text": "YES", "message_sid": "SMyes"},
    )
    deal = message(
        contact,
        program,
        "Acme: 20% off today. Reply STOP to cancel.",
        "delivered",
        provider_sid="SMdeal",
    )
    for kind, reason in (("held", "quiet_hours"), ("released", ""), ("sent", "")):
        MessageEvent.objects.create(message=deal, kind=kind, reason=reason)
    StatusCallback.objects.create(
        provider_sid="SMdeal", status="delivered", message=deal, raw={"MessageStatus": "delivered"}
    )
    waiting = message(contact, program, "Acme: tomorrow's deal.", MessageStatus.QUEUED)
    stop = services.consent_revoke(
        contact=contact,
        programs=[program],
        method="keyword",
        source="STOP to +18005550100",
        occurred_at=T0 + timedelta(days=2),
        evidence={"text": "STOP"},
    )[0].event
    ConsentConfirmation.objects.create(event=stop, message_ref="SMstopconfirm")
    ReassignedNumberCheck.objects.create(
        phone=PHONE, contact=contact, date_asked=T0.date(), answer="no", source="twilio_lookup"
    )
    return {"contact": contact, "program": program, "waiting": waiting, "deal": deal, "yes": yes}


def make_pack(tmp_path: Path, phone: str = "(415) 555-0142", *args: str) -> Path:
    out = tmp_path / "pack.zip"
    call_command("evidence_pack", phone, "-o", str(out), *args, stdout=io.StringIO())
    return out


def read(pack: Path, name: str):
    with zipfile.ZipFile(pack) as z:
        data = z.read(name)
    if name.endswith(".jsonl"):
        return [json.loads(line) for line in data.decode().splitlines()]
    return json.loads(data) if name.endswith(".json") else data.decode()


def test_it_lists_every_other_file_in_the_manifest_with_a_matching_sha256(history, tmp_path):
    pack = make_pack(tmp_path)

    with zipfile.ZipFile(pack) as z:
        names = set(z.namelist())
        manifest = json.loads(z.read("manifest.json"))
        for name, digest in manifest["files"].items():
            assert hashlib.sha256(z.read(name)).hexdigest() == digest
    assert set(manifest["files"]) == names - {"manifest.json"}
    assert manifest["phone"] == PHONE
    assert {"ledger.jsonl", "messages.jsonl", "summary.html", "hash_chain.json"} <= names
    out = io.StringIO()
    call_command("evidence_verify", str(pack), stdout=out)
    assert "every file matches" in out.getvalue()


def test_it_holds_the_ledger_disclosures_messages_and_revocation_timeline(history, tmp_path):
    pack = make_pack(tmp_path)

    ledger = read(pack, "ledger.jsonl")
    assert [e["kind"] for e in ledger] == ["opt_in", "opt_in_confirmed", "opt_out"]
    assert ledger[0]["evidence"]["ip"] == "203.0.113.7"
    assert ledger[0]["source"] == "https://acme.example/join"
    disclosures = read(pack, "disclosures.json")
    assert len(disclosures) == 1 and disclosures[0]["verified"] is True
    text = Disclosure.objects.get(program=history["program"]).text
    assert read(pack, disclosures[0]["file"]) == text

    consent_messages = read(pack, "consent_messages.json")["per_event"]
    assert consent_messages[0]["confirmation_sent"]["body"] == "Acme: reply YES to confirm."
    assert consent_messages[1]["inbound_reply"]["body"] == "YES"

    messages = {m["id"]: m for m in read(pack, "messages.jsonl")}
    deal = messages[history["deal"].pk]
    assert [s["kind"] for s in deal["steps"]] == ["held", "released", "sent"]
    assert deal["steps"][0]["reason"] == "quiet_hours"
    assert deal["status_callbacks"][0]["status"] == "delivered"
    assert deal["body_sha256"] == hashlib.sha256(deal["body"].encode()).hexdigest()
    waiting = messages[history["waiting"].pk]
    assert waiting["status"] == "cancelled"
    assert waiting["gate_decision"] == "refused: cancelled_by_opt_out"

    [revocation] = read(pack, "revocations.json")
    assert [c["message_id"] for c in revocation["waiting_messages_cancelled"]] == [
        history["waiting"].pk
    ]
    assert revocation["confirmation_ref"] == "SMstopconfirm"
    received = datetime.fromisoformat(revocation["received_at"])
    deadline = datetime.fromisoformat(revocation["deadline"])
    # 10 business days: 12 calendar days from a Sunday, 14 from a weekday, more over holidays.
    assert timedelta(days=12) <= deadline - received <= timedelta(days=20)
    assert revocation["deadline_met"] is True
    [check] = read(pack, "reassigned_checks.jsonl")
    assert check["answer"] == "no"
    [inbound] = read(pack, "inbound.jsonl")
    assert inbound["provider_sid"] == "SMyes"
    summary = read(pack, "summary.html")
    assert PHONE in summary and "Opt-in confirmed" in summary


def test_it_flags_a_revocation_recorded_after_its_deadline(history, tmp_path):
    services.consent_revoke(
        contact=history["contact"],
        programs=[history["program"]],
        method="email",
        source="letter found in a drawer",
        occurred_at=NOW - timedelta(days=60),
    )

    late = [r for r in read(make_pack(tmp_path), "revocations.json") if r["method"] == "email"]

    assert late[0]["deadline_met"] is False
    assert 'class="bad">no</span>' in read(tmp_path / "pack.zip", "summary.html")


def test_it_records_who_made_the_pack_and_when(history, tmp_path):
    user = create_user("carl_compliance")
    pack = make_pack(tmp_path, PHONE, "--user", "carl_compliance")

    record = EvidencePack.objects.get()
    assert (record.phone, record.made_by, record.made_by_label) == (PHONE, user, "evidence_pack")
    manifest = read(pack, "manifest.json")
    assert manifest["made_by"] == "carl_compliance / evidence_pack"
    assert manifest["pack_id"] == record.pk
    with zipfile.ZipFile(pack) as z:
        assert hashlib.sha256(z.read("manifest.json")).hexdigest() == record.manifest_sha256


@pytest.mark.parametrize("tamper", ["change", "remove", "add"])
def test_verify_exits_non_zero_on_a_tampered_pack(history, tmp_path, tamper):
    pack = make_pack(tmp_path)
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(pack) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "ledger.jsonl":
                if tamper == "remove":
                    continue
                if tamper == "change":
                    data = data.replace(b'"opt_out"', b'"opt_in"')
            dst.writestr(item, data)
        if tamper == "add":
            dst.writestr("extra.txt", "not part of the pack")

    err = io.StringIO()
    with pytest.raises(CommandError, match="not intact"):
        call_command("evidence_verify", str(tampered), stderr=err)
    assert ("extra.txt" if tamper == "add" else "ledger.jsonl") in err.getvalue()


def test_an_erased_contacts_pack_holds_the_ledger_without_personal_fields(history, tmp_path):
    services.contact_erase(contact=history["contact"], request_ref="R-9")

    pack = make_pack(tmp_path)

    ledger = read(pack, "ledger.jsonl")
    assert [e["kind"] for e in ledger] == ["opt_in", "opt_in_confirmed", "opt_out"]
    assert all(e["phone"] == PHONE for e in ledger)
    assert "203.0.113.7" not in json.dumps(ledger)
    [contact] = read(pack, "contact.json")
    assert contact["erased_at"] and "first_name" not in contact and "email" not in contact
    assert all(m["body"] is None and m["body_sha256"] for m in read(pack, "messages.jsonl"))
    assert "ada@example.com" not in read(pack, "summary.html")


def test_it_refuses_a_number_it_knows_nothing_of(db, tmp_path):
    with pytest.raises(CommandError, match="Nothing is recorded"):
        make_pack(tmp_path, "+14155550199")
    assert not (tmp_path / "pack.zip").exists()
    assert not EvidencePack.objects.exists()


def test_the_api_sends_the_pack_to_a_partner_with_exports_read(history, partner_api):
    response = partner_api(["exports:read"]).get("/api/v1/consent/(415)%20555-0142/evidence/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    pack = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert json.loads(pack.read("manifest.json"))["phone"] == PHONE
    assert EvidencePack.objects.get().made_by_label.startswith("api: ")


def test_the_api_refuses_without_the_scope_and_for_unknown_numbers(history, partner_api):
    assert (
        partner_api(["consent:read"]).get(f"/api/v1/consent/{PHONE}/evidence/").status_code == 403
    )
    missing = partner_api(["exports:read"]).get("/api/v1/consent/+14155550199/evidence/")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert not EvidencePack.objects.exists()


def test_the_schema_documents_the_endpoint(client):
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/consent/{phone}/evidence/"]["get"]
    assert "application/zip" in operation["responses"]["200"]["content"]


def test_compliance_downloads_it_from_the_contact_page_and_support_cannot(history, client):
    contact = history["contact"]
    page = reverse("admin:consent_contact_change", args=[contact.pk])
    make = reverse("admin:campaigns_evidencepack_make", args=[contact.pk])
    client.force_login(compliance_approver())
    assert make in client.get(page).content.decode()
    response = client.get(make)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert EvidencePack.objects.get().made_by.username == "carl_compliance"

    client.force_login(support_agent())
    assert make not in client.get(page).content.decode()
    assert client.get(make).status_code == 403
