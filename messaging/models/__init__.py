"""Messaging: senders, outbound messages and their events, inbound messages, conversations."""

from .alerts import OperatorAlert
from .counters import CounterScope, DailyCount
from .inbound import Conversation, InboundMessage, RevocationReview, StatusCallback
from .links import Attribution, BotReason, Click, Conversion, TrackedLink
from .outbound import (
    BlockReason,
    HoldReason,
    MessageEvent,
    MessageKind,
    MessageStatus,
    OutboundMessage,
)
from .partners import (
    ApiClient,
    DeliveryStatus,
    IdempotencyRecord,
    Scope,
    WebhookDelivery,
    WebhookEventType,
    WebhookSubscription,
)
from .senders import KeywordReplies, Sender, SenderDailyUsage, SenderKind, SenderThrottle
from .sending_rules import QuietHoursRule, ReassignedNumberCheck

__all__ = [
    "ApiClient",
    "Attribution",
    "BlockReason",
    "BotReason",
    "Click",
    "Conversation",
    "Conversion",
    "CounterScope",
    "DailyCount",
    "DeliveryStatus",
    "HoldReason",
    "IdempotencyRecord",
    "InboundMessage",
    "KeywordReplies",
    "MessageEvent",
    "MessageKind",
    "MessageStatus",
    "OperatorAlert",
    "OutboundMessage",
    "QuietHoursRule",
    "ReassignedNumberCheck",
    "RevocationReview",
    "Scope",
    "Sender",
    "SenderDailyUsage",
    "SenderKind",
    "SenderThrottle",
    "StatusCallback",
    "TrackedLink",
    "WebhookDelivery",
    "WebhookEventType",
    "WebhookSubscription",
]
