"""Messaging admin, one module per subject.

- `alerts`: operator alerts (conditions staff must look at), acknowledged here.
- `contacts`: the contact page, with the person's messages and conversations.
- `inbound`: incoming messages and status callbacks (read-only, big tables).
- `links`: tracked links, clicks and conversions (read-only, big tables).
- `conversations`: conversations with agents' replies, and the revocation review queue.
- `outbound`: senders, outbound messages and their events, quiet hours, reassigned checks.
- `partners`: API clients, webhook subscriptions and the webhook delivery log.
"""

from . import alerts, contacts, conversations, inbound, links, outbound, partners

__all__ = ["alerts", "contacts", "conversations", "inbound", "links", "outbound", "partners"]
