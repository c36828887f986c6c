"""What the provider already did with an incoming keyword, before our webhook was called.

On US long codes and toll-free numbers Twilio answers an exact STOP, HELP or START itself (its
default text, or the Messaging Service's Advanced Opt-Out text) and, on STOP, blocks the
number: a reply of ours to that STOP would fail with 21610, and one to HELP or START would be
a second answer. A sender says whether this happens (`Sender.provider_answers_keywords`).

- `opt_out_type(params)`: Twilio's `OptOutType` (STOP / START / HELP), sent with Advanced
  Opt-Out. It is authoritative: a custom Advanced Opt-Out word (any word the business set up
  at Twilio, in any language) arrives with it, so it overrides our own classification.
- `provider_keyword(body)`: the keyword Twilio's default handling matched, if any: the whole
  message, trimmed, in any case, one of Twilio's default words.
- `provider_answered(params, sender)`: the keyword the provider answered for this message (any
  message with `OptOutType`), or "" when it is ours to answer (free text such as "please stop
  texting me" is never matched by the provider: our one confirmation goes out).
- `authoritative(assessment, params)`: our assessment, overridden by `OptOutType`.
"""

from __future__ import annotations

from .keywords import Assessment, Intent
from .models import Sender

#: Twilio's default keyword lists (Messaging Service opt-out management), by `OptOutType`.
DEFAULT_KEYWORDS: dict[str, frozenset[str]] = {
    "STOP": frozenset(
        {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
    ),
    "START": frozenset({"START", "YES", "UNSTOP"}),
    "HELP": frozenset({"HELP", "INFO"}),
}
OPT_OUT_TYPES = frozenset(DEFAULT_KEYWORDS)
_INTENTS = {"STOP": Intent.OPT_OUT, "START": Intent.OPT_IN, "HELP": Intent.HELP}


def opt_out_type(params: dict[str, str]) -> str:
    """`OptOutType` of an incoming-message webhook, upper case, or "" when absent or unknown."""
    value = (params.get("OptOutType") or "").strip().upper()
    return value if value in OPT_OUT_TYPES else ""


def provider_keyword(body: str) -> str:
    """ "STOP", "START" or "HELP" when `body` is exactly one of Twilio's default keywords."""
    word = " ".join(body.split()).upper()
    for kind, words in DEFAULT_KEYWORDS.items():
        if word in words:
            return kind
    return ""


def provider_answered(params: dict[str, str], sender: Sender | None) -> str:
    """The keyword kind the provider answered for this message, "" when we are to answer.

    `OptOutType` means Advanced Opt-Out handled it at the provider, whatever the sender says.
    """
    if kind := opt_out_type(params):
        return kind
    if sender is None or not sender.provider_answers_keywords:
        return ""
    return provider_keyword(params.get("Body", ""))


def authoritative(assessment: Assessment, params: dict[str, str]) -> Assessment:
    """`assessment`, or the intent `OptOutType` names when it says otherwise."""
    kind = opt_out_type(params)
    if not kind:
        return assessment
    intent = _INTENTS[kind]
    if assessment.intent is intent and assessment.confidence == "certain":
        return assessment
    # START/YES/UNSTOP are told apart by the word; a custom START word re-opts in like START.
    matched = "keyword:start" if kind == "START" else f"opt_out_type:{kind}"
    return Assessment(intent=intent, confidence="certain", matched=matched)


__all__ = [
    "DEFAULT_KEYWORDS",
    "authoritative",
    "opt_out_type",
    "provider_answered",
    "provider_keyword",
]
