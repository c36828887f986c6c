"""Messaging: senders, outbound messages and their events, inbound messages, conversations."""

from .inbound import Conversation, InboundMessage, RevocationReview, StatusCallback
from .outbound import (
    BlockReason,
    HoldReason,
    MessageEvent,
    MessageKind,
    MessageStatus,
    OutboundMessage,
)
from .policy import QuietHoursRule, ReassignedNumberCheck
from .senders import Sender, SenderDailyUsage, SenderKind, SenderThrottle

__all__ = [
    "BlockReason",
    "Conversation",
    "HoldReason",
    "InboundMessage",
    "MessageEvent",
    "MessageKind",
    "MessageStatus",
    "OutboundMessage",
    "QuietHoursRule",
    "ReassignedNumberCheck",
    "RevocationReview",
    "Sender",
    "SenderDailyUsage",
    "SenderKind",
    "SenderThrottle",
    "StatusCallback",
]
