"""Text that came from outside (files, headers, form fields), made safe to store and to show.

- `without_controls` drops the control characters a worksheet cannot hold (everything below
  U+0020 except tab, line feed and carriage return, and DEL): spreadsheets cannot show them, and
  a leading one must not hide a formula from the exports' escaping (consent/exports.py).
- `storable` replaces what PostgreSQL cannot store in text or JSON (NUL, lone surrogates) with
  U+FFFD, so that a stray byte in a User-Agent is kept as evidence instead of failing the
  request.
"""

from __future__ import annotations

import re

CONTROL_CHARACTERS = "".join(map(chr, [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]))
_CONTROL = re.compile(f"[{re.escape(CONTROL_CHARACTERS)}]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def without_controls(value: str) -> str:
    """`value` without the characters in `CONTROL_CHARACTERS`."""
    return _CONTROL.sub("", value)


def storable(value: str) -> str:
    """`value` with NUL and lone surrogates replaced by U+FFFD."""
    return _UNSTORABLE.sub(REPLACEMENT, value)
