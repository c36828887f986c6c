"""Text from outside made storable: what PostgreSQL cannot hold is replaced, never refused.

PostgreSQL's text and JSONB columns cannot hold a NUL character, and a lone surrogate (half of a
UTF-16 pair, possible in a Python str but not in UTF-8) cannot even be sent to the database.
A webhook that must not lose what it received (an opt-out above all) stores such text with each
of those characters replaced by U+FFFD, the Unicode replacement character, so the stored copy
shows where something was replaced. Validators that may refuse instead (the partner API) should.

`without_controls` drops the control characters a worksheet cannot hold (everything below
U+0020 except tab, line feed and carriage return, and DEL): imports remove them from every cell,
and the exports remove the leading ones before escaping formulas (consent/exports.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
CONTROL_CHARACTERS = "".join(map(chr, [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]))
_CONTROL = re.compile(f"[{re.escape(CONTROL_CHARACTERS)}]")


def storable(text: str) -> str:
    """`text` with every NUL and lone surrogate replaced by U+FFFD (the same object if none)."""
    if _UNSTORABLE.search(text) is None:
        return text
    return _UNSTORABLE.sub(REPLACEMENT, text)


def storable_params(params: Mapping[str, str]) -> dict[str, str]:
    """A request's parameters, names and values made storable (see `storable`)."""
    return {storable(str(key)): storable(str(value)) for key, value in params.items()}


def without_controls(text: str) -> str:
    """`text` without the characters in `CONTROL_CHARACTERS`."""
    return _CONTROL.sub("", text)
