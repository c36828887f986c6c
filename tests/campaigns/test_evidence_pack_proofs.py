"""What the evidence pack proves beyond its own file hashes: the number's links of the ledger's
hash chain with the daily root covering them (re-checked by `evidence_verify`, even when a
forger redoes the manifest), and the registration snapshot in force when each marketing
message was sent."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from consent import services
from consent.ledger_chain import root_file_lines, root_publish
from consent.models import ConsentEvent
from messaging.models import OutboundMessage
from tests.campaigns.registration_helpers import create_registration
from tests.factories import create_contact, create_program, create_sender, create_user, opt_in

pytestmark = pytest.mark.django_db

PHONE = "+14155550142"
YESTERDAY = (timezone.now() - timedelta(days=1)).astimezone(UTC).date()


@contextmanager
def clock(moment: datetime, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(timezone, "now", lambda: moment)
        yield moment


@pytest.fixture
def ledger(monkeypatch):
    """A number opted in to two programs and out of one, all recorded yesterday (a root covers
    it), then opted in again today (no root yet); (contact, offers)."""
    offers, alerts = create_program("offers"), create_program("alerts")
    contact = create_contact(PHONE, first_name="Ada")
    noon = datetime(YESTERDAY.year, YESTERDAY.month, YESTERDAY.day, 12, tzinfo=UTC)
    with clock(noon, monkeypatch):
        opt_in(contact, offers, at=noon - timedelta(hours=2))
        opt_in(contact, alerts, at=noon - timedelta(hours=1))
        services.consent_revoke(
            contact=contact,
            programs=[offers],
            method="keyword",
            source="STOP to 12345",
            evidence={"text": "STOP", "ip": "203.0.113.7"},
        )
    root_publish(YESTERDAY)
    opt_in(contact, offers, at=timezone.now() - timedelta(minutes=5))
    return contact, offers


def make_pack(tmp_path: Path) -> Path:
    out = tmp_path / "pack.zip"
    call_command("evidence_pack", PHONE, "-o", str(out), stdout=io.StringIO())
    return out


def read(pack: Path, name: str):
    with zipfile.ZipFile(pack) as z:
        data = z.read(name)
    if name.endswith(".jsonl"):
        return [json.loads(line) for line in data.decode().splitlines()]
    return json.loads(data)


def rewritten(pack: Path, tmp_path: Path, name: str, change) -> Path:
    """The pack with one file changed and its manifest redone to match: only the chain's own
    hashes can tell."""
    out = tmp_path / "forged.zip"
    with zipfile.ZipFile(pack) as src:
        files = {n: src.read(n) for n in src.namelist()}
    files[name] = change(files[name])
    manifest = json.loads(files["manifest.json"])
    manifest["files"][name] = hashlib.sha256(files[name]).hexdigest()
    files["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(out, "w") as dst:
        for n, data in files.items():
            dst.writestr(n, data)
    return out


def verify(pack: Path) -> str:
    out = io.StringIO()
    call_command("evidence_verify", str(pack), stdout=out)
    return out.getvalue()


def verify_fails(pack: Path) -> str:
    err = io.StringIO()
    with pytest.raises(CommandError, match="not intact"):
        call_command("evidence_verify", str(pack), stderr=err)
    return err.getvalue()


# --- the hash chain -------------------------------------------------------------------------


def test_it_carries_the_numbers_chain_and_the_root_covering_it(ledger, tmp_path):
    contact, _ = ledger
    pack = make_pack(tmp_path)

    chain = read(pack, "hash_chain.json")
    events = list(ConsentEvent.objects.filter(contact=contact).order_by("chain_seq"))
    assert [link["event_id"] for link in chain["links"]] == [e.pk for e in events]
    assert [link["chain_hash"] for link in chain["links"]] == [e.chain_hash for e in events]
    assert {link["event_id"] for link in chain["links"]} == {
        e["id"] for e in read(pack, "ledger.jsonl")
    }
    # The root of yesterday covers the first three; its file has the number's head line.
    root = root_publish(YESTERDAY)
    assert chain["root"]["root_hash"] == root.root_hash
    head = events[2]
    assert [link["covered_by_root"] for link in chain["links"]] == [True, True, True, False]
    assert chain["root_lines"] == [f"{contact.pk} 3 {head.chain_hash}"]
    assert f"{contact.pk} 3 {head.chain_hash}\n" in list(root_file_lines(root))
    assert "ledger's hash chain recomputes" in verify(pack)


def test_each_link_hashes_to_its_canonical_content(ledger, tmp_path):
    chain = read(make_pack(tmp_path), "hash_chain.json")

    prefix = chain["format"].encode() + b"\n"
    for link in chain["links"]:
        digest = hashlib.sha256(prefix + link["canonical"].encode()).hexdigest()
        assert digest == link["chain_hash"]
        assert json.loads(link["canonical"])["chain_seq"] == link["chain_seq"]


def _change_evidence(data: bytes) -> bytes:
    chain = json.loads(data)
    link = chain["links"][2]
    link["canonical"] = link["canonical"].replace("203.0.113.7", "198.51.100.1")
    return json.dumps(chain).encode()


def _drop_a_link(data: bytes) -> bytes:
    chain = json.loads(data)
    del chain["links"][1]
    return json.dumps(chain).encode()


def _rehash_a_link(data: bytes) -> bytes:
    """Content changed and its own hash recomputed: the next link no longer points at it."""
    chain = json.loads(data)
    link = chain["links"][1]
    link["canonical"] = link["canonical"].replace("opt_in", "opt_out")
    prefix = chain["format"].encode() + b"\n"
    link["chain_hash"] = hashlib.sha256(prefix + link["canonical"].encode()).hexdigest()
    return json.dumps(chain).encode()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (_change_evidence, "does not hash to its chain hash"),
        (_drop_a_link, "does not follow"),
        (_rehash_a_link, "link to the previous event is broken"),
    ],
)
def test_verify_exits_non_zero_on_a_tampered_chain_even_with_the_manifest_redone(
    ledger, tmp_path, change, problem
):
    forged = rewritten(make_pack(tmp_path), tmp_path, "hash_chain.json", change)

    message = verify_fails(forged)

    assert problem in message
    assert "SHA-256 does not match" not in message


def test_verify_finds_a_ledger_event_missing_from_the_chain(ledger, tmp_path):
    def add_event(data: bytes) -> bytes:
        return data + json.dumps({"id": 999999, "kind": "opt_in"}).encode() + b"\n"

    forged = rewritten(make_pack(tmp_path), tmp_path, "ledger.jsonl", add_event)

    assert "ledger events 999999 are not in it" in verify_fails(forged)


def test_an_erased_persons_chain_keeps_its_links_without_their_content(ledger, tmp_path):
    contact, _ = ledger
    services.contact_erase(contact=contact, request_ref="R-9")

    pack = make_pack(tmp_path)

    chain = read(pack, "hash_chain.json")
    assert len(chain["links"]) == 4
    assert all(link["canonical"] is None for link in chain["links"])
    assert "203.0.113.7" not in json.dumps(chain)
    assert "hash chain recomputes" in verify(pack)


# --- registration snapshots -----------------------------------------------------------------


def test_each_marketing_message_names_the_registration_snapshot_in_force_when_sent(
    db, tmp_path, monkeypatch
):
    offers = create_program("offers")
    sender = create_sender(offers, kind="10dlc")
    now = timezone.now()
    first_approved, second_approved = now - timedelta(days=20), now - timedelta(days=10)
    with clock(first_approved, monkeypatch):
        registration = create_registration(offers, [sender])
    with clock(second_approved, monkeypatch):
        user = create_user("registrar_v2")
        draft = registration.new_draft(
            by=user,
            description="Acme Outdoor sends weekly offers "
            "and restock alerts to customers who asked on its site.",
        )
        draft.submit(by=user)
        draft.approve(note="v2 approved")
    v1, v2 = registration.snapshots.order_by("number")
    contact = create_contact(PHONE)
    opt_in(contact, offers, at=now - timedelta(days=30))

    def sent(days_ago: int, **fields: str) -> OutboundMessage:
        fields.setdefault("message_type", "marketing")
        at = now - timedelta(days=days_ago)
        return OutboundMessage.objects.create(
            contact=contact,
            to=PHONE,
            sender=sender,
            program=offers,
            message_type=fields["message_type"],
            kind="campaign",
            body="Acme: 20% off today. Reply STOP to cancel.",
            status="delivered",
            provider_sid=f"SM{days_ago:02d}{fields['message_type'][:4]}",
            sent_at=at,
        )

    before, under_v1, under_v2 = sent(25), sent(15), sent(5)
    informational = sent(5, message_type="transactional")

    pack = make_pack(tmp_path)

    messages = {m["id"]: m for m in read(pack, "messages.jsonl")}
    assert messages[before.pk]["registration_snapshots"] == []
    assert messages[under_v1.pk]["registration_snapshots"] == [v1.pk]
    assert messages[under_v2.pk]["registration_snapshots"] == [v2.pk]
    assert messages[informational.pk]["registration_snapshots"] is None
    snapshots = {s["id"]: s for s in read(pack, "registration_snapshots.json")}
    assert set(snapshots) == {v1.pk, v2.pk}
    assert snapshots[v1.pk]["status_now"] == "superseded"
    assert snapshots[v2.pk]["content"]["description"].startswith("Acme Outdoor sends weekly")
    assert snapshots[v1.pk]["content"]["message_samples"] == v1.message_samples
    assert snapshots[v1.pk]["registration"] == registration.name
