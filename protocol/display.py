"""Text from records made safe to show in a terminal.

Records carry what their authors typed, and the protocol does not forbid
control characters in text (a signed record stays valid forever; what is
dangerous depends on where it is shown). A terminal, though, obeys them: ESC
and the one-byte C1 CSI (U+009B) start commands that move the cursor, retitle
the window or worse, and the bidirectional overrides make a name read as
something it is not. Everything that shows record text to a person -- the
TUI, the command line, ``cercle verify`` -- passes it through
:func:`printable` first. Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls but newline and tab, DEL, C1 controls, bidi embeddings,
# overrides (U+202A-U+202E) and isolates (U+2066-U+2069).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
REPLACEMENT = "\ufffd"


def printable(text: str) -> str:
    """``text`` with unsafe characters replaced by U+FFFD (a carriage return goes)."""
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(REPLACEMENT, text.replace("\r\n", "\n").replace("\r", ""))


def printable_value(value: Any) -> Any:
    """A decoded value with every string in it :func:`printable` (map keys included)."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable_value(k): printable_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [printable_value(v) for v in value]
    return value
