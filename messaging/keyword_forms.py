"""Revocation forms beyond the keyword lists, for `messaging.keywords`.

General rules, not phrase lists: a rule names a grammatical form and the words it may take.

Spanish commands and wishes, in the forms people write them (matched on folded words: lower
case, no accents): the infinitive ("dejar de recibir mensajes", "no enviar mas mensajes"), the
imperative, singular or plural, with the pronoun attached ("borrenme", "sacame de la lista"), the
negative command ("no me vuelvan a escribir") and the wish ("no quiero que me escriban",
"ya no quiero"). A "no" right before a command ("no paren", "no dejen de mandarme las ofertas")
turns it into its opposite.

Disguised spellings: a word that mixes letters with digits or signs that look like letters
("st0p", "5TOP", "$top", "unsubscr1be", "4LTO") is read with those spelled out; only a certain
revocation read that way counts.
"""

from __future__ import annotations

import re

# What a Spanish revocation is about: messages, or the list they come from.
_ES_DETS = r"(?:(?:los|las|sus|tus|estos|estas|esos|esas|todos|todas|mas|tantos|tantas|de) )*"
_ES_MSG = r"(?:mensajes?|textos?|sms|msjs?|promociones|notificaciones|alertas|ofertas|spam)"
_ES_LIST = r"(?:la|su|sus|esta|esa|tu|tus) lista"
_ES_SEND = r"(?:enviar|mandar|escribir|contactar|llamar|textear|molestar)"
# Commands: -a/-e (usted, tu) and -an/-en (ustedes) endings, with an attached pronoun.
_ES_REMOVE_ME = r"(?:borr|elimin|quit|sac|saqu|desuscrib)(?:a|e|an|en)(?:me|nos)"
# A clause may close with courtesy words.
_ES_END = r"(?: (?:por favor|porfa|favor|ya|gracias|please|pls|now|ahora))*$"
_NOT_NEGATED = r"(?<!\bno )(?<!\bnunca )"

#: (name, pattern) of certain Spanish revocations, searched in each clause of a reply.
SPANISH_CERTAIN: tuple[tuple[str, str], ...] = (
    (
        "dejar de recibir",
        rf"{_NOT_NEGATED}\b(?:dej|par)(?:a|e|en|ar|o) de recibir"
        rf"(?: {_ES_DETS}{_ES_MSG}\b|{_ES_END})",
    ),
    (
        "no enviar",
        rf"\bno (?:me |nos )?{_ES_SEND}(?:me|nos)? (?:mas|mensajes|textos|nada|nunca)\b",
    ),
    ("no vuelvan a", rf"\bno (?:me |nos )?vuelv(?:a|as|an|e|en) a {_ES_SEND}"),
    (
        "no quiero que",
        r"\bno (?:quiero|queremos|deseo) que (?:me |nos )?(?:(?:sigan|sigas) \w+(?:ando|iendo)"
        r"|(?:vuelvan a )?(?:escrib|mand|envi|contact|llam|textee|molest)(?:an|en|as|es|a|e))\b",
    ),
    (
        "borrenme",
        rf"^(?:(?:por favor|porfa|favor de|ya) )*{_ES_REMOVE_ME}(?: de {_ES_LIST})?{_ES_END}",
    ),
    ("salir de la lista", rf"\b(?:salir|salirme|sacarme|sacarnos|borrarme) de {_ES_LIST}\b"),
    ("basta de", rf"\bbasta (?:de|con) {_ES_DETS}{_ES_MSG}\b"),
    (
        "paren + objeto",
        rf"{_NOT_NEGATED}\b(?:paren|parar|detengan|detenga|detener|suspendan|suspender"
        rf"|cancelen|cancele|cancela) {_ES_DETS}{_ES_MSG}\b",
    ),
    ("ya no quiero", rf"\bya no (?:quiero|deseo|necesito)(?: (?:recibir|mas|nada))*{_ES_END}"),
)

#: Spanish command keywords that a "no" right before turns around ("no paren" = "don't stop").
SPANISH_COMMANDS = frozenset({"paren", "parar", "cancelar"})

#: Refusals before a closing revocation word make it certain ("done with these texts, cancel").
REFUSAL = re.compile(
    r"\b(?:(?:im|i am|were|we are) (?:so |really |totally |just )?(?:done|finished)"
    r"|not interested|no thanks|no thank you|no gracias|no me interesa|no more|no mas"
    r"|too many|enough|never signed up|leave me alone)\b"
)

_LOOK_ALIKES = {"0": "o", "3": "e", "4": "a", "5": "s", "7": "t", "$": "s", "@": "a"}
_AS_I = str.maketrans(_LOOK_ALIKES | {"1": "i"})
_AS_L = str.maketrans(_LOOK_ALIKES | {"1": "l"})
_SIGNS = frozenset(_LOOK_ALIKES) | {"1"}
_TOKEN = re.compile(r"\S+")


def _disguised(token: str) -> bool:
    """A token mixing letters with look-alike digits or signs ("st0p"; not "#123" or "4pm")."""
    return any(c.isalpha() for c in token) and any(c in _SIGNS for c in token)


def undisguised(text: str) -> list[str]:
    """The reply with disguised words spelled out (1 read as "i", then as "l"); [] if none."""
    if not any(_disguised(t) for t in text.split()):
        return []
    readings: list[str] = []
    for table in (_AS_I, _AS_L):
        reading = _TOKEN.sub(
            lambda m, t=table: m[0].translate(t) if _disguised(m[0]) else m[0], text
        )
        if reading not in readings:
            readings.append(reading)
    return readings
