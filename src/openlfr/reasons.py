"""Whether a reason someone typed says anything: the audit trail must not accept an invisible one."""

from __future__ import annotations

import unicodedata

BLANK_LETTERS = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}  # Hangul fillers, a blank braille cell


def is_given(reason: str) -> bool:
    """At least one character that draws something: a letter, digit, mark, punctuation or symbol,
    not spaces, control or format characters (zero-width spaces, byte-order marks) or blank letters."""
    return any(unicodedata.category(c)[0] in "LMNPS" and c not in BLANK_LETTERS for c in reason)
