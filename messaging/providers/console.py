"""Console backend: writes each message to stdout instead of sending it (`make run`, demos).

Like Django's console e-mail backend. Nothing is sent, so `find_sent` never finds anything.
"""

from __future__ import annotations

import sys
import threading
import uuid
from datetime import datetime
from typing import TextIO

from .base import BaseBackend, OutboundRequest, SendResult

_lock = threading.Lock()


class ConsoleBackend(BaseBackend):
    def __init__(self, stream: TextIO | None = None) -> None:
        # Looked up per call, not at import, so pytest's capsys and redirections see it.
        self.stream = stream

    def send(self, request: OutboundRequest) -> SendResult:
        """Print the message; returns a fake SID "CONSOLE" + 32 hex. Never fails."""
        sid = "CONSOLE" + uuid.uuid4().hex
        sender = request.from_number or request.messaging_service_sid or "(no sender)"
        text = (
            f"--- SMS #{request.message_id} {sid}\n"
            f"From: {sender}\nTo: {request.to}\n\n{request.body}\n---\n"
        )
        stream = self.stream or sys.stdout
        with _lock:  # whole messages, even from several threads
            stream.write(text)
            stream.flush()
        return SendResult(provider_sid=sid, status="queued", raw={"backend": "console"})

    def find_sent(self, request: OutboundRequest, *, since: datetime) -> SendResult | None:
        return None
