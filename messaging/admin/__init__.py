"""Messaging admin, one module per subject.

- `inbound`: incoming messages and status callbacks (read-only, big tables).
- `conversations`: conversations with agents' replies, and the revocation review queue.
- `outbound`: senders, outbound messages and their events, quiet hours, reassigned checks.
- `partners`: API clients, webhook subscriptions and the webhook delivery log.
"""

from . import conversations, inbound, outbound, partners

__all__ = ["conversations", "inbound", "outbound", "partners"]
