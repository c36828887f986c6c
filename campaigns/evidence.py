"""The consent evidence pack: one ZIP that answers "did this number consent, and was every
message within that consent?", for a lawyer, a carrier or the person.

`evidence_pack_write(...)` streams the ZIP with memory flat in the number of messages, lists every
file's SHA-256 in `manifest.json`, and records who made it (`EvidencePack`). It lives in
`campaigns` because it reads every layer below (consent, messaging, flows); nothing imports it.
The files and what each holds: docs/evidence-pack.md.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from config.lib.business_days import add_business_days
from consent.models import (
    ConsentConfirmation,
    ConsentEvent,
    ConsentKind,
    ConsentStatus,
    Contact,
    Disclosure,
    MessageType,
    Suppression,
    disclosure_text_hash,
)
from consent.phones import normalize_phone, phone_hash
from messaging.conversations import business_hours
from messaging.models import (
    BlockReason,
    InboundMessage,
    MessageEvent,
    OutboundMessage,
    ReassignedNumberCheck,
    StatusCallback,
)

from .evidence_proofs import (
    CHAIN_FILE,
    LEDGER_FILE,
    RegistrationsInForce,
    chain_problems,
    hash_chain_section,
)
from .flow_rules import MONTHLY_REMINDER_EVENT
from .models import EvidencePack, FlowRun

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CHUNK = 1000
#: Business days within which a revocation must be honoured.
REVOCATION_DEADLINE_BUSINESS_DAYS = 10
MESSAGE_FIELDS = (
    "id",
    "to",
    "sender_id",
    "program_id",
    "message_type",
    "kind",
    "campaign_id",
    "template_version_id",
    "status",
    "reason",
    "provider_sid",
    "error_code",
    "error_message",
    "segments",
    "created_at",
    "sent_at",
    "delivered_at",
    "body",
    "body_sha256",
    "body_purged_at",
)
STEP_FIELDS = ("kind", "at", "reason", "error_code", "data")
CALLBACK_FIELDS = ("status", "error_code", "received_at", "raw")
PERSONAL_CONTACT_FIELDS = ("first_name", "last_name", "email", "postal_code", "attributes")


class EvidenceError(ValueError):
    """The pack cannot be made (e.g. nothing is known of the number); nothing was recorded."""


@dataclass
class PackResult:
    phone: str
    files: dict[str, str]  # name -> SHA-256
    record: EvidencePack
    counts: dict[str, int] = field(default_factory=dict)


def _json(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, sort_keys=True)


class _Writer:
    """Writes files into the ZIP one chunk at a time, hashing as it goes."""

    def __init__(self, out: IO[bytes]) -> None:
        self.zip = zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED)
        self.hashes: dict[str, str] = {}

    def file(self, name: str, chunks: Iterable[str | bytes]) -> None:
        digest = hashlib.sha256()
        with self.zip.open(name, "w", force_zip64=True) as target:
            for chunk in chunks:
                data = chunk.encode() if isinstance(chunk, str) else chunk
                digest.update(data)
                target.write(data)
        self.hashes[name] = digest.hexdigest()

    def lines(self, name: str, rows: Iterable[dict]) -> None:
        """JSON Lines, written in blocks of lines (one write per row costs twice as much)."""

        def blocks() -> Iterator[str]:
            block: list[str] = []
            for row in rows:
                block.append(_json(row) + "\n")
                if len(block) >= 200:
                    yield "".join(block)
                    block = []
            if block:
                yield "".join(block)

        self.file(name, blocks())

    def close(self) -> None:
        self.zip.close()


def evidence_pack_write(
    *, phone: str, out: IO[bytes], made_by=None, made_by_label: str = ""
) -> PackResult:
    """Write the evidence pack of `phone` (any format) as a ZIP to `out`, and record that it
    was made. Raises InvalidPhoneNumber, or EvidenceError when nothing is known of the number."""
    e164 = normalize_phone(phone)
    hashed = phone_hash(e164)
    contact_ids = set(
        ConsentEvent.objects.filter(phone=e164).values_list("contact_id", flat=True).distinct()
    )
    contact_ids |= set(Contact.objects.filter(phone=e164).values_list("pk", flat=True))
    contacts = list(Contact.objects.filter(pk__in=contact_ids).order_by("pk"))
    suppressions = list(Suppression.objects.filter(phone_hash=hashed).order_by("pk"))
    if not contacts and not suppressions:
        raise EvidenceError(f"Nothing is recorded for {e164}.")
    made_at = timezone.now()
    erased = any(c.erased_at for c in contacts)
    writer = _Writer(out)
    pack = _Pack(e164, contacts, erased)
    writer.file("contact.json", [_json([pack.contact_row(c) for c in contacts])])
    events = list(
        ConsentEvent.objects.filter(contact_id__in=contact_ids)
        .select_related("program", "disclosure", "recorded_by")
        .order_by("occurred_at", "pk")
    )
    confirmations = {c.event_id: c for c in ConsentConfirmation.objects.filter(event__in=events)}
    writer.lines(LEDGER_FILE, (pack.event_row(e, confirmations.get(e.pk)) for e in events))
    pack.disclosures(writer, events)
    pack.consent_messages(writer, events, confirmations)
    pack.revocations(writer, events, confirmations)
    writer.lines("messages.jsonl", pack.messages())
    snapshots = pack.registrations.rows()
    pack.counts["registration snapshots in force for marketing sent"] = len(snapshots)
    writer.file("registration_snapshots.json", [_json(snapshots)])
    writer.lines("inbound.jsonl", pack.inbound())
    writer.lines(
        "reassigned_checks.jsonl",
        (
            {
                "phone": c.phone,
                "date_asked": c.date_asked,
                "answer": c.answer,
                "source": c.source,
                "checked_at": c.checked_at,
                "raw": c.raw,
            }
            for c in ReassignedNumberCheck.objects.filter(phone=e164).order_by("checked_at")
        ),
    )
    writer.file(
        "suppressions.json",
        [_json([pack.suppression_row(s) for s in suppressions])],
    )
    chain = hash_chain_section(e164, withhold_content=erased)
    pack.counts["hash chain links"] = len(chain["links"])
    pack.counts["hash chain links covered by a published root"] = len(
        [link for link in chain["links"] if chain["root"] and link["covered_by_root"]]
    )
    writer.file(CHAIN_FILE, [_json(chain)])
    writer.file("summary.html", [pack.summary_html(events, suppressions, made_at, made_by_label)])
    with transaction.atomic():
        record = EvidencePack.objects.create(
            phone=e164,
            contact=contacts[-1] if contacts else None,
            made_at=made_at,
            made_by=made_by if getattr(made_by, "pk", None) else None,
            made_by_label=made_by_label,
            files=len(writer.hashes),
        )
        manifest = {
            "format": FORMAT_VERSION,
            "phone": e164,
            "made_at": made_at,
            "made_by": _who(made_by, made_by_label),
            "pack_id": record.pk,
            "contact_erased": erased,
            "files": dict(sorted(writer.hashes.items())),
        }
        body = json.dumps(manifest, cls=DjangoJSONEncoder, indent=1, sort_keys=True)
        writer.zip.writestr(MANIFEST, body)
        record.manifest_sha256 = hashlib.sha256(body.encode()).hexdigest()
        record.save(update_fields=["manifest_sha256"])
    writer.close()
    return PackResult(e164, writer.hashes, record, pack.counts)


def _who(user, label: str) -> str:
    name = user.get_username() if getattr(user, "pk", None) else ""
    return " / ".join(part for part in (name, label) if part) or "unknown"


class _Pack:
    """The sections of one number's pack; `counts` gathers the summary's figures."""

    def __init__(self, phone: str, contacts: list[Contact], erased: bool) -> None:
        self.phone = phone
        self.contacts = contacts
        self.contact_ids = [c.pk for c in contacts]
        self.erased = erased
        self.counts: Counter = Counter()
        self.disclosure_checks: list[dict] = []
        self.revocation_rows: list[dict] = []
        self.registrations = RegistrationsInForce()

    def contact_row(self, contact: Contact) -> dict[str, Any]:
        row = {
            "id": contact.pk,
            "phone": contact.phone,
            "created_at": contact.created_at,
            "erased_at": contact.erased_at,
            "time_zone": contact.time_zone,
            "state": contact.state,
            "locale": contact.locale,
        }
        if not contact.erased_at:
            row |= {name: getattr(contact, name) for name in PERSONAL_CONTACT_FIELDS}
        return row

    def event_row(self, e: ConsentEvent, confirmation: ConsentConfirmation | None) -> dict:
        self.counts["ledger events"] += 1
        row = {
            "id": e.pk,
            "phone": e.phone,
            "program": e.program.slug,
            "brand": e.program.brand_name,
            "message_type": e.program.message_type,
            "kind": e.kind,
            "resulting_status": e.resulting_status,
            "method": e.method,
            "source": e.source,
            "disclosure_version": e.disclosure.version if e.disclosure else None,
            "disclosure_hash": e.disclosure_hash,
            "occurred_at": e.occurred_at,
            "recorded_at": e.recorded_at,
            "recorded_by": e.recorded_by.get_username() if e.recorded_by else None,
            "recorded_by_label": e.recorded_by_label,
            "idempotency_key": e.idempotency_key,
            "evidence": e.evidence,
            "note": e.note,
            "confirmation": {
                "sent_at": confirmation.sent_at,
                "message_ref": confirmation.message_ref,
            }
            if confirmation
            else None,
        }
        if self.erased:  # the ledger stays; what identifies the person beyond the number goes
            row["evidence"] = {"withheld": "contact erased on request"} if e.evidence else {}
            row["note"] = ""
        return row

    def disclosures(self, writer: _Writer, events: list[ConsentEvent]) -> None:
        used: dict[int, Disclosure] = {
            e.disclosure.pk: e.disclosure for e in events if e.disclosure
        }
        hashes_given: dict[int, set[str]] = {}
        for e in events:
            if e.disclosure_id:
                hashes_given.setdefault(e.disclosure_id, set()).add(e.disclosure_hash)
        rows = []
        for d in sorted(used.values(), key=lambda d: (d.program_id, d.version)):
            name = f"disclosures/{d.program.slug}-v{d.version}.txt"
            writer.file(name, [d.text])
            recomputed = disclosure_text_hash(d.text)
            verified = recomputed == d.text_hash and hashes_given[d.pk] == {d.text_hash}
            self.counts["disclosures verified" if verified else "disclosures NOT verified"] += 1
            rows.append(
                {
                    "program": d.program.slug,
                    "version": d.version,
                    "effective_at": d.effective_at,
                    "page_url": d.page_url,
                    "screenshot": d.screenshot.name or None,
                    "file": name,
                    "stored_hash": d.text_hash,
                    "recomputed_hash": recomputed,
                    "hashes_on_events": sorted(hashes_given[d.pk]),
                    "verified": verified,
                }
            )
        self.disclosure_checks = rows
        writer.file("disclosures.json", [_json(rows)])

    def consent_messages(self, writer: _Writer, events, confirmations) -> None:
        """The texts around each consent: double opt-in request and reply, the confirmation,
        the monthly reminders."""
        refs = [c.message_ref for c in confirmations.values() if c.message_ref.isdigit()]
        sent = {str(m.pk): m for m in OutboundMessage.objects.filter(pk__in=[int(r) for r in refs])}
        replies = {
            m.provider_sid: m
            for m in InboundMessage.objects.filter(
                provider_sid__in=[
                    e.evidence.get("message_sid") for e in events if e.evidence.get("message_sid")
                ]
            )
        }
        rows = []
        for e in events:
            confirmation = confirmations.get(e.pk)
            message = sent.get(confirmation.message_ref) if confirmation else None
            reply = replies.get(e.evidence.get("message_sid")) if e.evidence else None
            what = {
                ConsentKind.OPT_IN_CONFIRMED: "double opt-in reply",
                ConsentKind.OPT_OUT: "opt-out",
            }.get(
                e.kind,
                "opt-in"
                if e.resulting_status != ConsentStatus.PENDING
                else "double opt-in request",
            )
            rows.append(
                {
                    "event_id": e.pk,
                    "program": e.program.slug,
                    "kind": e.kind,
                    "what": what,
                    "confirmation_sent": self._message_brief(message) if message else None,
                    "confirmation_ref": confirmation.message_ref if confirmation else None,
                    "inbound_reply": self._inbound_brief(reply) if reply else None,
                }
            )
        reminders = [
            {
                "flow": run.flow.name,
                "fired_at": run.fire_at,
                "outcome": run.outcome,
                "reason": run.reason,
                "message": self._message_brief(run.message) if run.message else None,
            }
            for run in FlowRun.objects.filter(
                contact_id__in=self.contact_ids, flow__trigger=MONTHLY_REMINDER_EVENT
            )
            .select_related("flow", "message")
            .order_by("fire_at")
        ]
        self.counts["monthly reminders"] = len(reminders)
        writer.file(
            "consent_messages.json",
            [_json({"per_event": rows, "monthly_reminders": reminders})],
        )

    def revocations(self, writer: _Writer, events, confirmations) -> None:
        zone = business_hours().zone
        rows = []
        for e in events:
            if e.kind != ConsentKind.OPT_OUT:
                continue
            received = timezone.localtime(e.occurred_at, zone)
            deadline = add_business_days(received, REVOCATION_DEADLINE_BUSINESS_DAYS)
            cancelled = list(
                MessageEvent.objects.filter(
                    message__contact_id=e.contact_id,
                    message__program_id=e.program_id,
                    kind=MessageEvent.Kind.CANCELLED,
                    reason=BlockReason.CANCELLED_BY_OPT_OUT,
                    at__gte=e.recorded_at - timezone.timedelta(seconds=5),
                    at__lte=e.recorded_at + timezone.timedelta(seconds=60),
                ).values_list("message_id", "at")
            )
            confirmation = confirmations.get(e.pk)
            rows.append(
                {
                    "event_id": e.pk,
                    "program": e.program.slug,
                    "method": e.method,
                    "received_at": e.occurred_at,
                    "recorded_at": e.recorded_at,
                    "waiting_messages_cancelled": [
                        {"message_id": pk, "at": at} for pk, at in cancelled
                    ],
                    "confirmation_sent_at": confirmation.sent_at if confirmation else None,
                    "confirmation_ref": confirmation.message_ref if confirmation else None,
                    "deadline_business_days": REVOCATION_DEADLINE_BUSINESS_DAYS,
                    "deadline": deadline,
                    "deadline_met": e.recorded_at <= deadline,
                }
            )
        self.counts["revocations"] = len(rows)
        self.counts["revocations past deadline"] = sum(not r["deadline_met"] for r in rows)
        self.revocation_rows = rows
        writer.file("revocations.json", [_json(rows)])

    def _message_brief(self, m: OutboundMessage) -> dict[str, Any]:
        return {
            "id": m.pk,
            "status": m.status,
            "reason": m.reason,
            "created_at": m.created_at,
            "sent_at": m.sent_at,
            "provider_sid": m.provider_sid,
            **self._body(m),
        }

    def _inbound_brief(self, m: InboundMessage) -> dict[str, Any]:
        return {
            "provider_sid": m.provider_sid,
            "received_at": m.received_at,
            "body": None if (self.erased or m.body_purged_at) else m.body,
            "body_sha256": m.body_sha256 or hashlib.sha256(m.body.encode()).hexdigest(),
            "body_purged_at": m.body_purged_at,
            "intent": m.intent,
            "matched": m.matched,
        }

    def _body(self, m: OutboundMessage) -> dict[str, Any]:
        purged = m.body_purged_at is not None
        stored = m.body_sha256 or hashlib.sha256(m.body.encode()).hexdigest()
        return {
            "body": None if (purged or self.erased) else m.body,
            "body_sha256": stored,
            "body_purged_at": m.body_purged_at,
        }

    def messages(self) -> Iterator[dict[str, Any]]:
        """Every message to the number, oldest first, with its events and callbacks; read in
        chunks by id (keyset) as plain rows (no model instances: 10,000 messages bring 50,000
        rows), so memory holds one chunk."""
        after = 0
        while True:
            chunk = list(
                OutboundMessage.objects.filter(contact_id__in=self.contact_ids, pk__gt=after)
                .order_by("pk")
                .values(*MESSAGE_FIELDS, program_slug=F("program__slug"))[:CHUNK]
            )
            if not chunk:
                return
            ids = [m["id"] for m in chunk]
            steps: dict[int, list] = {}
            for message_id, *step in (
                MessageEvent.objects.filter(message_id__in=ids)
                .order_by("at", "pk")
                .values_list("message_id", "kind", "at", "reason", "error_code", "data")
            ):
                steps.setdefault(message_id, []).append(dict(zip(STEP_FIELDS, step, strict=True)))
            callbacks: dict[int, list] = {}
            for message_id, *callback, purged in (
                StatusCallback.objects.filter(message_id__in=ids)
                .order_by("received_at")
                .values_list(
                    "message_id", "status", "error_code", "received_at", "raw", "raw_purged_at"
                )
            ):
                row = dict(zip(CALLBACK_FIELDS, callback, strict=True))
                if purged:
                    row["raw"] = None
                callbacks.setdefault(message_id, []).append(row)
            for m in chunk:
                self.counts["messages"] += 1
                self.counts[f"messages {m['status']}"] += 1
                body, purged = m.pop("body"), m["body_purged_at"]
                m["program"] = m.pop("program_slug")
                m["gate_decision"] = _gate_decision(m["status"], m["reason"], m["provider_sid"])
                m["body"] = None if (purged or self.erased) else body
                m["body_sha256"] = m["body_sha256"] or hashlib.sha256(body.encode()).hexdigest()
                m["steps"] = steps.get(m["id"], [])
                m["status_callbacks"] = callbacks.get(m["id"], [])
                m["registration_snapshots"] = self._registrations(m)
                yield m
            after = ids[-1]

    def _registrations(self, m: dict[str, Any]) -> list[int] | None:
        """The snapshots in force when a marketing message was sent (None: not marketing, or
        not sent)."""
        if m["message_type"] != MessageType.MARKETING or m["sent_at"] is None:
            return None
        found = self.registrations.at(m["sender_id"], m["program_id"], m["sent_at"])
        if not found:
            self.counts["marketing messages sent with no registration in force"] += 1
        return found

    def inbound(self) -> Iterator[dict[str, Any]]:
        after = 0
        while True:
            chunk = list(
                InboundMessage.objects.filter(from_number=self.phone, pk__gt=after).order_by("pk")[
                    :CHUNK
                ]
            )
            if not chunk:
                return
            for m in chunk:
                self.counts["messages received"] += 1
                yield self._inbound_brief(m) | {
                    "to": m.to_number,
                    "reply": None if self.erased else m.reply,
                    "handled_at": m.handled_at,
                    "raw": None if (self.erased or m.raw_purged_at) else m.raw,
                }
            after = chunk[-1].pk

    def suppression_row(self, s: Suppression) -> dict[str, Any]:
        return {
            "reason": s.reason,
            "program": s.program.slug if s.program else None,
            "created_at": s.created_at,
            "created_by": s.created_by_label,
            "lifted_at": s.lifted_at,
            "lift_note": s.lift_note,
            "note": "" if self.erased else s.note,
        }

    def summary_html(self, events, suppressions, made_at: datetime, made_by: str) -> str:
        return render_to_string(
            "campaigns/evidence_summary.html",
            {
                "phone": self.phone,
                "made_at": made_at,
                "made_by": made_by or "unknown",
                "erased": self.erased,
                "figures": sorted(self.counts.items()),
                "events": events,
                "disclosures": self.disclosure_checks,
                "revocations": self.revocation_rows,
                "suppressions": len(suppressions),
                "active_suppressions": sum(1 for s in suppressions if s.is_active),
            },
        )


def _gate_decision(status: str, reason: str, provider_sid: str | None) -> str:
    if status in ("blocked", "cancelled"):
        return f"refused: {reason}"
    if status in ("sent", "delivered", "undelivered", "failed") and provider_sid:
        return "allowed at hand-off"
    return f"not yet decided ({status})"


def evidence_verify(path_or_file) -> list[str]:
    """Re-check a pack: every file listed in the manifest, with its SHA-256, and nothing more;
    then the ledger's hash chain it carries (each hash recomputed from its content, each link,
    the root's lines). Returns the problems found (empty: the pack is intact)."""
    problems: list[str] = []
    with zipfile.ZipFile(path_or_file) as pack:
        names = set(pack.namelist())
        if MANIFEST not in names:
            return ["manifest.json is missing"]
        try:
            manifest = json.loads(pack.read(MANIFEST))
            listed: dict[str, str] = manifest["files"]
        except (ValueError, KeyError, TypeError):
            return ["manifest.json cannot be read"]
        for name, expected in sorted(listed.items()):
            if name not in names:
                problems.append(f"{name}: listed in the manifest but missing")
                continue
            digest = hashlib.sha256()
            with pack.open(name) as member:
                while chunk := member.read(1 << 16):
                    digest.update(chunk)
            if digest.hexdigest() != expected:
                problems.append(f"{name}: SHA-256 does not match the manifest")
        for name in sorted(names - set(listed) - {MANIFEST}):
            problems.append(f"{name}: not listed in the manifest")
        if CHAIN_FILE in listed and CHAIN_FILE in names:
            problems += _chain_problems(pack)
    return problems


def _chain_problems(pack: zipfile.ZipFile) -> list[str]:
    try:
        chain = json.loads(pack.read(CHAIN_FILE))
        with pack.open(LEDGER_FILE) as ledger:
            event_ids = {json.loads(line)["id"] for line in ledger if line.strip()}
    except (KeyError, ValueError, TypeError):
        return [f"{CHAIN_FILE} or {LEDGER_FILE} cannot be read"]
    return chain_problems(chain, event_ids)
