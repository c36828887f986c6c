"""Messaging admin, one module per subject.

- `inbound`: incoming messages and status callbacks (read-only, big tables).
- `conversations`: conversations with agents' replies, and the revocation review queue.
- `outbound`: senders, outbound messages and their events, quiet hours, reassigned checks.
"""

from . import conversations, inbound, outbound

__all__ = ["conversations", "inbound", "outbound"]
