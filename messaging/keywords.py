"""Classify an inbound SMS reply: opt-out, HELP, opt-in, or anything else.

Pure Python, no database and no I/O: the inbound handler calls it on every reply and acts on the
answer. Rules are word lists and a few regular expressions, compiled at import. No ML.

Contract
--------
``assess(text)`` returns an :class:`Assessment` for any ``str`` (empty included) and never raises.
``classify(text) == assess(text).intent``. The combinations, and what the caller must do:

============  ============  ==============  ====================================================
intent        confidence    needs_review    the caller ...
============  ============  ==============  ====================================================
``OPT_OUT``   ``certain``   ``False``       revokes consent now and sends the one
                                            STOP confirmation.
``HELP``      ``certain``   ``False``       sends the program's HELP reply.
``OPT_IN``    ``certain``   ``False``       treats it as START/UNSTOP/YES under the program's rules
                                            (program join keywords are not handled here).
``OTHER``     ``likely``    ``True``        queues it for a human: it *may* be a revocation. The
                                            law honours any wording a reasonable person reads as
                                            "stop texting me", so the reviewer must decide well
                                            inside the 10-business-day limit
                                            (``config.lib.business_days``); holding further sends to
                                            the number meanwhile is the safe default.
``OTHER``     ``certain``   ``False``       routes it to the conversation like any reply.
============  ============  ==============  ====================================================

``classify`` returns ``OPT_OUT`` only when certain: a "likely" revocation is ``OTHER`` plus the
review flag, never silently dropped. ``matched`` names the rule that decided (``"keyword:stop"``,
``"phrase:stop + verb"``, ``"review:why texting"``; ``"negated:..."`` when a revocation phrase was
found but negated, e.g. "don't stop the deals"), for the audit row and for tuning.

What counts
-----------
* Matching ignores case, accents, surrounding whitespace, punctuation, emoji, zero-width characters
  and compatibility forms (full-width or math-bold "STOP"), via NFKC + casefold.
* A reply made only of keywords of one kind, plus courtesy words ("please", "now", "thanks",
  "por favor"...), is that keyword: "STOP!!!", "stop 🛑", "help me", "yes please", "no más".
  Stretched or spaced spellings count ("stoooop", "S.T.O.P"). Mixed kinds resolve
  opt-out > help > opt-in ("yes stop" is an opt-out; the law favours the consumer).
* A keyword that stands alone as one clause of a longer reply counts ("who is this? stop").
  CANCEL, END and CANCELAR double as everyday verbs, so as one clause among others ("Cancel. I can't
  make it Tuesday") they are only *likely* revocations; alone they are certain, as for Twilio.
* Free-text revocations are certain when they say so unambiguously ("stop texting me", "remove me
  from your list", "don't text me", "wrong number"); a negation just before them ("don't stop the
  texts", "can't stop buying") cancels them unless it is rhetorical or conditional ("why won't you
  stop texting me", "if you don't stop texting me...").
* Complaints that imply "stop" without saying it ("why do you keep texting me", "I never signed up",
  "not interested", a lone 🛑) are *likely*: review, not automatic revocation.
* Spanish commands and wishes in their usual forms (infinitive, imperative with the pronoun
  attached, negative command, "no quiero que...", "ya no quiero"), disguised spellings ("st0p",
  "5TOP", "unsubscr1be"), and CANCEL/END closing a refusal ("no thanks. cancel") are certain
  revocations; see `messaging.keyword_forms`. A "no" just before a Spanish command ("no paren")
  reverses it.
* Opt-in: START, UNSTOP, YES and, for bilingual programs, SI/SÍ. A "yes" inside a sentence ("yes,
  see you at 3") is an ordinary reply, not consent.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise
from typing import Literal

from .keyword_forms import REFUSAL, SPANISH_CERTAIN, SPANISH_COMMANDS, undisguised

__all__ = ["Assessment", "Confidence", "Intent", "assess", "classify"]


class Intent(StrEnum):
    """What an inbound reply asks for."""

    OPT_OUT = "opt_out"
    HELP = "help"
    OPT_IN = "opt_in"
    OTHER = "other"


Confidence = Literal["certain", "likely"]


@dataclass(frozen=True, slots=True)
class Assessment:
    """The verdict on one reply; see the module docstring for what the caller does with it.

    ``confidence`` is "likely" only for ``intent=OTHER`` replies that may be revocations.
    """

    intent: Intent
    confidence: Confidence
    matched: str

    @property
    def needs_review(self) -> bool:
        """True when a human must decide whether the reply revokes consent."""
        return self.confidence == "likely"


# --- Keywords --------------------------------------------------------------------------------

# Twilio's defaults and the FCC's words, the Spanish ones CTIA suggests, and common variants.
# Multi-word keywords ("opt out", "no más") are joined into one token before lookup.
_OPT_OUT_WORDS = frozenset(
    {
        "stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout",
        "alto", "parar", "cancelar", "baja", "nomas", "basta", "paren",
        "nomore", "remove", "unsub", "discontinue",
        "stpo", "sotp", "stp", "unsubcribe", "unsuscribe", "unsubscibe", "unsubsribe",
    }
)  # fmt: skip
# Everyday verbs too: as the whole reply they are keywords, as one clause of several only likely.
_WEAK_OPT_OUT_WORDS = frozenset({"cancel", "end", "cancelar"})
_HELP_WORDS = frozenset({"help", "info", "ayuda", "information", "informacion", "moreinfo"})
# "si" because bilingual programs announce Spanish keywords; "sí" folds to it.
_OPT_IN_WORDS = frozenset({"start", "unstop", "yes", "si"})

_KEYWORDS: dict[str, Intent] = {
    **dict.fromkeys(_OPT_IN_WORDS, Intent.OPT_IN),
    **dict.fromkeys(_HELP_WORDS, Intent.HELP),
    **dict.fromkeys(_OPT_OUT_WORDS, Intent.OPT_OUT),
}

# Courtesy and emphasis words that may surround a keyword without changing it.
_FILLERS = frozenset(
    {
        "please", "pls", "plz", "plez", "now", "thanks", "thx", "ty", "me", "already", "just",
        "ok", "okay", "again", "asap", "immediately", "seriously", "forever", "permanently",
        "gracias", "ya", "porfa", "porfavor", "ahora", "hey", "hi", "hello", "hola", "oh", "omg",
        "lol",
    }
)  # fmt: skip
_JOINS = {
    "opt out": "optout",
    "stop all": "stopall",
    "no mas": "nomas",
    "no more": "nomore",
    "more info": "moreinfo",
    "thank you": "thanks",
    "por favor": "please",
    "right now": "now",
    "for now": "now",
}
_JOIN_RE = re.compile(r"\b(?:" + "|".join(_JOINS) + r")\b")
_REPEATS_RE = re.compile(r"(.)\1+")


def _keyword(words: str) -> tuple[Intent, str] | None:
    """The intent of a reply made only of keywords and fillers, with the deciding keyword."""
    said = words.split()
    if any(a == "no" and b in SPANISH_COMMANDS for a, b in pairwise(said)):
        return None  # "no paren": a Spanish negative command, "don't stop"
    tokens = [t for t in _JOIN_RE.sub(lambda m: _JOINS[m[0]], words).split() if t not in _FILLERS]
    if len(tokens) > 1 and all(len(t) == 1 for t in tokens):
        tokens = ["".join(tokens)]  # "s t o p", "S.T.O.P."
    found: dict[Intent, str] = {}
    for word in tokens:
        kind = _KEYWORDS.get(word) or _KEYWORDS.get(_REPEATS_RE.sub(r"\1", word))
        if kind is not None:
            found.setdefault(kind, word)
        elif word != "no" and not word.isdigit():
            return None
    # "no, stop" and "stop 2" are stops, but "no yes" is no opt-in and "yes 2" may be a headcount.
    only_opt_out = any(t == "no" or t.isdigit() for t in tokens)
    for kind in (Intent.OPT_OUT, Intent.HELP, Intent.OPT_IN):
        if kind in found and (kind is Intent.OPT_OUT or not only_opt_out):
            return kind, found[kind]
    return None


# --- Normalisation ---------------------------------------------------------------------------

_APOSTROPHES = str.maketrans(dict.fromkeys("\u2018\u2019\u02bc\u00b4`", "'"))
# Accents, variation selectors, keycaps, zero-width joiners and spaces.
_DROPPED_CATEGORIES = frozenset({"Mn", "Me", "Cf"})
_NON_WORD_RE = re.compile(r"[\W_]+")
_CLAUSE_BREAK_RE = re.compile(r"[.!?;:,()\[\]{}/|\n¡¿]+|\s[-\u2013\u2014]+\s")
_STOP_SIGNS = frozenset("\U0001f6d1\u26d4\U0001f6ab")  # 🛑 ⛔ 🚫


def _fold(text: str) -> str:
    """NFKC, casefolded, without accents or invisible characters; punctuation kept."""
    text = unicodedata.normalize("NFKC", text.translate(_APOSTROPHES))
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if unicodedata.category(c) not in _DROPPED_CATEGORIES)


def _words(folded: str) -> str:
    """Lower-case words separated by single spaces; "don't" becomes "dont", "opt-out" "opt out"."""
    return " ".join(_NON_WORD_RE.sub(" ", folded.casefold().replace("'", "")).split())


def _clauses(folded: str) -> list[str]:
    """The reply cut at sentence punctuation and emoji, each clause as words."""
    marked = "".join("." if unicodedata.category(c) == "So" else c for c in folded)
    return [w for part in _CLAUSE_BREAK_RE.split(marked) if (w := _words(part))]


# --- Phrase rules ----------------------------------------------------------------------------

_MSG = (
    r"(?:texts?|txts?|messages?|msgs?|msjs?|sms|mms|spam|promos?|promotions?|ads|adverts?"
    r"|advertisements?|marketing|alerts?|notifications?|reminders?|emails?|calls?|robotexts?"
    r"|mensajes?|textos?)"
)
_OFFER = r"(?:deals?|offers?|coupons?|updates?|specials?)"
_VERB_ING = (
    r"(?:texting|txting|texing|messaging|msging|sending|contacting|calling|emailing|spamming"
    r"|bothering|bugging|harassing|hassling|pestering|nagging|blowing up my phone)"
)
_CONTACT_VERB = r"(?:text|txt|message|msg|contact|call|sms|email|bother|spam)"
# Determiners before an object; a free adjective is allowed only after one, so "stop the weekly
# deals" matches but the store name "Stop & Shop coupons" does not.
_DETS = (
    r"(?:(?:with|all|of|the|these|those|this|that|your|ur|my|any|yalls?|ya"
    r"|los|las|mis|sus|tus|todos|todas|estos|estas) )+"
)
_OBJ = rf"(?:{_DETS}(?:\w+ )?)?(?:{_MSG}|{_OFFER})\b"
_LISTY = (
    r"(?:(?:your|ur|the|this|that|these|all|my|any|yalls?|ya|of) )*(?:\w+ )?"
    r"(?:list|lists|database|system|contacts|records|texts?|messages?|sms|marketing)\b"
)
_ME = r"(?:me|us|(?:my|this|that) (?:\w+ )?(?:number|info|information|contact|details|data))"
_END = r"(?: (?:please|pls|plz|now|thanks|thx|asap|already|immediately|thank you|ok|lol))*$"
# "stop" as a command when a cue precedes it ("please stop", "make it stop", "I said stop") ...
_STOP_CUE = (
    rf"(?:please|pls|plz|just|make (?:it|this|that|them|these)"
    r"|(?:can|could|will|would) (?:you|u|ya|yall)(?: please| pls| just)?"
    rf"|(?:you|u|yall|it|this|these|they|{_MSG}) (?:need|needs|has|have|gotta|got) to"
    rf"|(?:want|need) (?:it|this|that|them|these|those|you|u)(?: {_MSG})? to"
    r"|(?:i|we) (?:already )?(?:said|texted|replied|sent|typed|wrote)|told (?:you|u|yall)(?: to)?"
    r"|asked (?:you|u|yall) to)"
)
# ... unless what follows makes it a visit: "please stop by", "could you stop at the post office".
_STOP_VISIT = (
    r"(?:by|at|in|into|on|over|off|for|to|and|near|here|there|first|next|somewhere|anywhere"
    r"|when|whenever|if|before|after|once|during|along|light|sign|shop|bus)"
)
# A reply that starts with the keyword and goes on as a new sentence: "stop who is this".
_SENTENCE_STARTERS = (
    r"(?:i|im|ive|id|ill|this|who|why|you|u|youre|ur|its|not|no|dont|we|what|how|wrong|never"
    r"|leave|remove|take|delete|quit|enough|wtf|yall)"
)
_TIME_LIMITS = (
    r"(?:after|before|until|till|til|during|between|past|on weekends|on sundays|at night"
    r"|so early|so late|this early|this late|in the morning|at work)"
)

_NEGATORS = frozenset(
    {"dont", "not", "never", "wont", "cant", "cannot", "didnt", "doesnt", "shouldnt", "wouldnt",
     "couldnt", "isnt", "arent", "aint", "dnt"}
)  # fmt: skip
# A negation after these is rhetorical or a condition, not a wish to keep the texts coming.
_NEGATION_UNDOERS = frozenset({"why", "if", "unless", "until", "till", "til"})
_WRONG_NUMBER_BLOCKERS = frozenset(
    {"i", "my", "gave", "give", "entered", "enter", "put", "typed", "type", "used", "use",
     "dialed", "called", "wrote", "sent"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Rule:
    """A phrase rule. Any of ``blockers`` among the 3 words before a match cancels it, unless one
    of ``undoers`` comes before that blocker ("why won't you stop texting me")."""

    name: str
    pattern: re.Pattern[str]
    blockers: frozenset[str] = frozenset()
    undoers: frozenset[str] = frozenset()

    def blocked(self, clause: str, start: int) -> bool:
        before = clause[:start].split()[-3:]
        for i in range(len(before) - 1, -1, -1):
            if before[i] in self.blockers:
                return not self.undoers.intersection(before[:i])
        return False


def _rule(
    name: str, pattern: str, *, negatable: bool = False, blockers: frozenset[str] = frozenset()
) -> _Rule:
    """A compiled rule; a ``negatable`` one is cancelled by "don't", "never", "can't"..."""
    if negatable:
        return _Rule(name, re.compile(pattern), _NEGATORS, _NEGATION_UNDOERS)
    return _Rule(name, re.compile(pattern), blockers)


# Certain revocations, each searched in every clause of the reply.
_CERTAIN_RULES: tuple[_Rule, ...] = (
    _rule(
        "stop + verb",
        rf"\b(?:stop|quit|cease|halt) (?:\w+ )?{_VERB_ING}\b(?!(?: me| us)? {_TIME_LIMITS}\b)",
        negatable=True,
    ),
    _rule(
        "be removed",
        rf"\b(?:be|get|been) (?:removed|deleted|unsubscribed|taken off|taken out)"
        rf"(?: (?:from|off|of) {_LISTY}|{_END})",
        negatable=True,
    ),
    _rule(
        "stop + object",
        rf"\b(?:stop|quit|cease|halt|end|cancel|discontinue|block|cancelar|parar) {_OBJ}",
        negatable=True,
    ),
    _rule("stop getting", rf"\bstop (?:getting|receiving) {_OBJ}", negatable=True),
    _rule(
        "stop + cue",
        rf"\b{_STOP_CUE} stop\b(?! {_STOP_VISIT}\b)"
        rf"(?! (?:the|my|our|a|an) (?!(?:\w+ )?(?:{_MSG}|{_OFFER})\b))",
    ),
    _rule("keyword + sentence", rf"^(?:stop|unsubscribe|stopall|revoke) {_SENTENCE_STARTERS}\b"),
    _rule(
        "unsubscribe",
        r"\b(?:unsubscribe|unsubcribe|unsuscribe|unsubscibe|unsubsribe|unsubscrib|unsub"
        r"|desuscribir(?:me)?|desuscribanme)\b",
        negatable=True,
    ),
    _rule(
        "opt out",
        r"\b(?:opt(?:ing)? ?out|opt (?:me|us|this number|my number) out)\b",
        negatable=True,
    ),
    _rule("revoke", r"\brevok(?:e|ing)\b", negatable=True),
    _rule("already out", r"\balready (?:unsubscribed|unsubbed|opted out|revoked|said stop)\b"),
    _rule(
        "remove me", rf"\b(?:remove|delete|erase|lose|forget) {_ME}\b(?! from\b)", negatable=True
    ),
    _rule(
        "remove from list",
        rf"\b(?:remove|delete|erase)(?: {_ME})? (?:from|off) "
        rf"(?:{_LISTY}|(?:this|these|them|it|everything|all){_END})",
    ),
    _rule(
        "take me off",
        rf"\b(?:take|get|drop|put|scratch|cross) {_ME} (?:off|out)(?: {_LISTY}|{_END})",
    ),
    _rule(
        "off the list", rf"\b(?:want|wanna|get|take|be|keep) (?:me |us )?(?:off|out of) {_LISTY}"
    ),
    _rule(
        "don't contact",
        rf"\b(?:dont|do not|dnt) (?:ever )?{_CONTACT_VERB}"
        rf"(?: (?:me|us|this number|this phone|here)\b(?! (?:back|the|a|an|about|when|if|yet|first"
        rf"|with|tomorrow|today|tonight|later|{_TIME_LIMITS})\b)|{_END})",
    ),
    _rule("never contact", rf"\bnever (?:ever )?{_CONTACT_VERB} (?:me|us|this number) again\b"),
    _rule(
        "don't send",
        rf"\b(?:dont|do not|never) (?:ever )?send (?:me |us )?"
        rf"(?:(?:any|more|anymore|these|those|your|ur|the|of|no) )*(?:\w+ )?(?:{_MSG}|anything)\b",
    ),
    _rule(
        "don't want",
        r"\b(?:dont|do not|no longer|dnt) (?:want|wanna|wish|need)"
        r"(?: to (?:receive|get|be getting|be receiving|keep getting))? "
        rf"(?:(?:any|more|anymore|of|these|this|those|your|ur|the|all|such) )*(?:\w+ )?{_MSG}\b",
    ),
    _rule(
        "don't want contact",
        r"\b(?:dont|do not|no longer) want to be (?:contacted|texted|messaged|called)\b",
    ),
    _rule(
        "no more",
        rf"\bno (?:more|mas|longer) (?:(?:of|these|this|your|ur|the|those) )*(?:\w+ )?{_MSG}\b",
    ),
    _rule("enough + object", rf"\benough (?:with )?{_OBJ}"),
    _rule(
        "leave me alone",
        r"\bleave (?:me|us) (?:the \w+ )?alone\b|\bdej(?:a|e|en)(?:me|nos)? en paz\b",
        negatable=True,
    ),
    _rule(
        "wrong number",
        r"\bwrong (?:number|person|num|phone|guy|girl|contact|recipient)\b",
        blockers=_WRONG_NUMBER_BLOCKERS,
    ),
    _rule("numero equivocado", r"\bnumero equivocado\b|\bequivocad[oa]s? de numero\b"),
    _rule(
        "no me envien",
        r"\bno (?:me |nos )?(?:envien|envies|envie|manden|mandes|mande|escriban|escribas|escriba"
        r"|contacten|contactes|contacte|llamen|texteen)"
        rf"(?: (?:mas|mensajes|textos|nada|nunca)\b|{_END})",
    ),
    _rule(
        "dejen de enviar",
        r"(?<!\bno )\b(?:dej|par)(?:a|e|en|ar) de "
        r"(?:enviar|mandar|escribir|contactar|llamar|textear|molestar)(?:me|nos)?\b",
    ),
    _rule(
        "no quiero mensajes",
        r"\bno quiero (?:(?:recibir|mas|ningun|tus|sus|estos|esos) )*"
        r"(?:mensajes|textos|sms|msjs|promociones|notificaciones)\b",
    ),
    _rule(
        "borren mi numero",
        r"\b(?:elimin|borr|quit|sac|saqu)(?:a|e|en|ar)(?:me|nos)? "
        r"(?:mi (?:numero|telefono|cel|celular)|de (?:la|su|tu|esta|sus|tus) lista)\b",
    ),
    _rule("dar de baja", r"\b(?:dar|darme|darnos|dame|denme|deme|den) de baja\b"),
    *(_rule(name, pattern) for name, pattern in SPANISH_CERTAIN),
)

# Whole clauses (fillers aside) that are certain revocations.
_CERTAIN_CLAUSES = frozenset(
    {
        "stop it", "stop this", "stop that", "stop them", "stop these", "quit it", "quit this",
        "go away", "fuck off", "f off", "eff off", "piss off", "get lost", "buzz off", "bugger off",
        "screw off",
    }
)  # fmt: skip

# Likely revocations: searched in the whole reply; the first that matches sends it to review.
_REVIEW_RULES: tuple[_Rule, ...] = (
    _rule(
        "done",
        r"^(?:(?:ok|okay|yeah|well|so) )?(?:im|i am|i m|were|we are)"
        r" (?:so |really |totally |just |pretty )?done"
        r"(?: (?:getting|receiving) (?:these|this|them|your \w+)"
        r"| with (?:these|this|you|yall|your \w+|ur \w+|it|the (?:texts|messages)"
        r"|all (?:of )?(?:this|these|your \w+)))?$",
    ),
    _rule("why texting", rf"\bwhy\b.{{0,60}}\b{_VERB_ING} (?:me|us|this number)\b"),
    _rule(
        "keep texting",
        r"\bkeep (?:on )?(?:texting|messaging|sending|contacting|calling|getting|receiving)\b",
    ),
    _rule(
        "why getting these",
        r"\b(?:why|still)\b.{0,60}\b(?:getting|receiving) "
        rf"(?:(?:(?:these|this|your|ur|so many|all|of|the) )*(?:\w+ )?{_MSG}\b|(?:these|this)$)",
    ),
    _rule(
        "how got my number",
        r"\b(?:how|where|who|why)\b.{0,60}\b(?:get|got|gave|give|find|found|obtain|obtained|have)\b"
        r".{0,60}\bmy (?:number|phone|cell|info|contact)\b",
    ),
    _rule(
        "never signed up",
        r"\b(?:never|didnt|did not|dont remember|dont recall) (?:ever )?(?:sign(?:ed)? up"
        r"|subscribed?|opt(?:ed)? in|agreed?|consent(?:ed)?|authorized?"
        r"|(?:give|gave) (?:you )?(?:permission|consent|my number))\b"
        r"|\b(?:dont|do not|didnt|did not|never) "
        r"(?:consent|ask(?:ed)? for (?:these|this|them|it|your))\b",
    ),
    _rule(
        "not interested", r"\bnot interested\b|\bno (?:me )?interesa\b|\bno estoy interesad[oa]\b"
    ),
    _rule("annoyed", r"\b(?:annoying|annoyed|irritating|obnoxious)\b"),
    _rule("want out", r"\b(?:i want|i wanna|get me|let me) out\b"),
    _rule("spam", r"\b(?:spam|spammer|spammers|spammy|scam|scammer|scammers|junk)\b"),
    _rule(
        "block or report",
        r"\b(?:block|blocking|blocked|report|reporting|reported)\b"
        r"(?: (?:you|u|this|yall|your|ur|as)\b|$)",
    ),
    _rule(
        "legal",
        r"\b(?:tcpa|fcc|ftc|attorney|lawyer|lawsuit|sue you|harass(?:ment|ing)?"
        r"|do not call list)\b",
    ),
    _rule(
        "enough",
        r"^(?:ok |okay |seriously |omg )?(?:thats |that is )?enough"
        r"(?: already| is enough| now| please)*$",
    ),
    _rule(
        "too many",
        rf"\btoo many {_MSG}|\b(?:text|message|msg)\w* (?:me |us )?(?:way )?too (?:much|often)\b"
        rf"|\b(?:text|message|msg) (?:me|us) less\b|\b(?:less|fewer) {_MSG}\b",
    ),
    _rule("only some", r"\bonly (?:text|message|msg|contact|send)\b"),
    _rule("no promos", r"\bno (?:promos?|promotions?|ads|marketing|advertising|offers|deals)\b"),
    _rule("pause", r"\bpause\b"),
    _rule(
        "subscription",
        r"\b(?:cancel|end|stop|terminate|quit|cancelar|terminar) "
        r"(?:(?:my|the|this|your|mi|la|su) )?(?:subscriptions?|suscripcion(?:es)?)\b",
    ),
    _rule(
        "time limit",
        rf"\b(?:dont|do not|never) {_CONTACT_VERB} (?:me|us) {_TIME_LIMITS}\b"
        rf"|\b(?:stop|quit) {_VERB_ING}(?: me| us)? {_TIME_LIMITS}\b",
    ),
    _rule("lay off", r"\b(?:lay off|ease up on|ease up with|chill (?:out )?(?:with|on)) the\b"),
    _rule(
        "remove from something", r"\b(?:remove|delete|erase) (?:me|us|my number|this number) from\b"
    ),
    _rule("account", r"\b(?:delete|close|remove|cancel) (?:my |the )?account\b"),
    _rule("shut up", r"\bshut up\b"),
    _rule(
        "don't want unclear",
        r"^(?:i )?(?:dont|do not) (?:want|need) (?:this|these|them|it|that|those|any(?: ?more)?)"
        r"(?: anymore| any more)?$",
    ),
)

# A clause ending in "stop" is a likely command ("when will the texts stop?") unless "stop" is a
# noun ("my stop", "the last stop") or negated ("the rain won't stop").
_STOP_AS_NOUN = frozenset(
    {"a", "an", "the", "my", "your", "our", "their", "his", "her", "next", "last", "first",
     "final", "bus", "pit", "truck", "full", "rest", "one", "each", "every", "per", "any", "no",
     "subway", "train", "tram", "metro", "shuttle", "second", "third", "photo", "non", "which",
     "what", "whose", "nearest", "closest", "same", "other", "another", "street", "quick", "short"}
)  # fmt: skip
_DETERMINERS = frozenset({"a", "an", "the", "my", "your", "our", "their", "his", "her"})
_QUOTING = frozenset({"reply", "replying", "text", "texting", "txt", "send", "type", "word"})
_PRONOUNS = frozenset({"it", "this", "that", "they", "these", "them", "those", "you", "u"})
_MSG_RE = re.compile(_MSG)


def _strip_fillers(words: str) -> str:
    return " ".join(
        t for t in _JOIN_RE.sub(lambda m: _JOINS[m[0]], words).split() if t not in _FILLERS
    )


def _certain_in_clause(clause: str) -> tuple[str | None, str | None]:
    """The certain rule that matches a clause, and a rule that matched but was negated."""
    negated = None
    if _strip_fillers(clause) in _CERTAIN_CLAUSES:
        return "phrase:" + _strip_fillers(clause), None
    for rule in _CERTAIN_RULES:
        for match in rule.pattern.finditer(clause):
            if not rule.blocked(clause, match.start()):
                return "phrase:" + rule.name, None
            negated = negated or "negated:" + rule.name
    return None, negated


# Words that make a clause-final "stop" a statement about the future rather than a command:
# "when will the texts stop", "we had to stop".
_AUXILIARIES = frozenset(
    {"will", "would", "to", "gonna", "going", "can", "could", "did", "does", "do", "had", "has",
     "have", "should", "must", "might", "may", "when", "if", "until", "before", "after", "wanna"}
)  # fmt: skip
# A lone "stop" clause in a joking reply ("Stop, you're making me blush 😂") is likely teasing.
_PLAYFUL_RE = re.compile(
    r"\b(?:lol|lmao|lmfao|rofl|haha\w*|hehe\w*|jaja\w*|amazing|too (?:kind|good|sweet)"
    r"|making me|love (?:it|this|these|you))\b"
)
_PLAYFUL_EMOJI = frozenset(
    "\U0001f602\U0001f923\U0001f60d\U0001f970\U0001f606\U0001f605\u2764\U0001f60a"
)


def _final_stop(clause: str) -> Confidence | None:
    """How surely a clause ending in a bare "stop" ("who is this stop") is a revocation."""
    tokens = clause.split()
    if len(tokens) < 2 or tokens[-1] != "stop" or tokens[-2] in _STOP_AS_NOUN:
        return None
    if tokens[-2] in _QUOTING:  # "reply STOP?" quotes the instruction
        return None
    if _NEGATORS.intersection(tokens[-4:-1]):
        # "why won't you stop" is rhetorical, but too terse to be sure of.
        return "likely" if tokens[0] in _NEGATION_UNDOERS else None
    # "the texts stop" is a verb; "thanks for the quick stop" a noun, as the determiner shows.
    subject = tokens[-2] in _PRONOUNS or _MSG_RE.fullmatch(tokens[-2])
    if not subject and _DETERMINERS.intersection(tokens[-4:-1]):
        return None
    return "likely" if _AUXILIARIES.intersection(tokens[:-1]) else "certain"


def _is_playful(folded: str, words: str) -> bool:
    return bool(_PLAYFUL_EMOJI.intersection(folded) or _PLAYFUL_RE.search(words))


def _closes_refusal(clause: str, clauses: list[str]) -> bool:
    """A keyword clause that closes a refusal ("I'm done with these texts, cancel")."""
    if clause is not clauses[-1]:
        return False
    before = " ".join(clauses[:-1])
    return bool(REFUSAL.search(before)) or any(r.pattern.search(before) for r in _REVIEW_RULES)


# --- Entry points ----------------------------------------------------------------------------


def assess(text: str) -> Assessment:
    """Classify one inbound reply; see the module docstring for the contract."""
    assessment = _assess(text)
    if assessment.intent is Intent.OPT_OUT:
        return assessment
    for reading in undisguised(text):  # "st0p", "unsubscr1be": only a certain revocation counts
        spelled = _assess(reading)
        if spelled.intent is Intent.OPT_OUT:
            return Assessment(Intent.OPT_OUT, "certain", "disguised " + spelled.matched)
    return assessment


def _assess(text: str) -> Assessment:
    folded = _fold(text)
    words = _words(folded)
    if not words:
        if _STOP_SIGNS.intersection(folded):
            return Assessment(Intent.OTHER, "likely", "review:stop-sign emoji")
        return Assessment(Intent.OTHER, "certain", "")

    if (keyword := _keyword(words)) is not None:
        return Assessment(keyword[0], "certain", "keyword:" + keyword[1])

    # Certain revocations anywhere; remember the likely ones met on the way.
    clauses = _clauses(folded)
    negated = likely = None
    for clause in clauses:
        rule, clause_negated = _certain_in_clause(clause)
        if rule:
            return Assessment(Intent.OPT_OUT, "certain", rule)
        negated = negated or clause_negated
        final_stop = _final_stop(clause)
        if final_stop == "certain":
            return Assessment(Intent.OPT_OUT, "certain", "phrase:trailing stop")
        if final_stop == "likely":
            likely = likely or "clause-final stop"
        keyword = _keyword(clause) if len(clauses) > 1 else None
        if keyword is not None and keyword[0] is Intent.OPT_OUT:
            weak = keyword[1] in _WEAK_OPT_OUT_WORDS or _is_playful(folded, words)
            weak = weak and not _closes_refusal(clause, clauses)
            if not weak:
                return Assessment(Intent.OPT_OUT, "certain", "clause keyword:" + keyword[1])
            likely = likely or "clause keyword:" + keyword[1]

    if likely:
        return Assessment(Intent.OTHER, "likely", "review:" + likely)
    for rule in _REVIEW_RULES:
        if rule.pattern.search(words):
            return Assessment(Intent.OTHER, "likely", "review:" + rule.name)
    return Assessment(Intent.OTHER, "certain", negated or "")


def classify(text: str) -> Intent:
    """The intent of one inbound reply: ``OPT_OUT`` only when certain (see ``assess``)."""
    return assess(text).intent
