"""Secrets kept out of what people and logs see (passwords in URLs, tokens in query strings), and
text kept from being run by what opens it (formulas in CSV cells).

A leaf module (it imports nothing of openlfr's), so every layer may use it, as it may use
``settings`` and ``errors``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"
SECRET_NAMES = re.compile(r"pass|pwd|secret|token|key|sig|auth|credential|session|bearer", re.IGNORECASE)
# A path segment that looks like a token (a webhook's secret path): long, and either mixing
# letters and digits or too long to be a word.
TOKEN_SEGMENT = re.compile(r"[\w-]{24,}|(?=[\w-]*[A-Za-z])(?=[\w-]*\d)[\w-]{16,}", re.ASCII)
FILE_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")
URL_START = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")
URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


def redact_url(url: str, whole_path: bool = False) -> str:
    """``url`` with its password, token-like user name or path segments, the values of query
    parameters that look secret and its fragment replaced by ``***``, so that it can be shown;
    ``whole_path`` masks every path segment (a webhook's path is often its credential).

    Split by hand, not by ``urlsplit``: a password may hold ``/ # ? @`` (FFmpeg and SQLAlchemy
    take such URLs), so the user part ends at the last ``@``. Anything that is not a URL is
    returned as it is."""
    match = URL_START.match(url)
    if not match:
        return url
    scheme, rest = match.group(0), url[match.end() :]
    user, at, after = rest.rpartition("@")
    if at and not re.search(r"[/?#]", user.partition(":")[0]):  # else an '@' in the path or query
        rest = after
    else:
        user, at = "", ""
    rest, hash_mark, _ = rest.partition("#")  # a fragment may hold a token: never shown
    rest, question_mark, query = rest.partition("?")
    host, slash, path = rest.partition("/")
    if host:  # a local path (sqlite:////x, file:///x) holds no token
        path = "/".join(_segment(p, whole_path) for p in path.split("/"))
    query = re.sub(
        r"([^&;=]+)=?[^&;]*",
        lambda pair: f"{pair.group(1)}={MASK}" if SECRET_NAMES.search(pair.group(1)) else pair.group(0),
        query,
    )
    return (
        f"{scheme}{_user_part(user)}{at}{host}{slash}{path}{question_mark}{query}"
        f"{hash_mark}{MASK if hash_mark else ''}"
    )


def _segment(segment: str, whole_path: bool) -> str:
    """A path segment as it may be shown: a token-like one (its file extension aside, as in
    ``<token>.mjpg``) becomes ``***``."""
    if not segment:
        return segment
    stem, dot, extension = segment.rpartition(".") if FILE_EXTENSION.search(segment) else (segment, "", "")
    if whole_path or TOKEN_SEGMENT.fullmatch(stem):
        return f"{MASK}{dot}{extension}"
    return segment


def _user_part(user: str) -> str:
    """The user part of a URL as it may be shown: the name without the password, or ``***`` for
    a name that is itself a token."""
    name, colon, _ = user.partition(":")
    if colon:
        return f"{name}:{MASK}"
    if SECRET_NAMES.search(name) or len(name) > 24 or TOKEN_SEGMENT.fullmatch(name):
        return MASK
    return name


def redact(value: Any) -> Any:
    """A JSON-like value (dicts, lists, strings) with every URL in it redacted."""
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_url(value) if URL_START.match(value) else redact_text(value)
    return value


def redact_text(text: str) -> str:
    """``text`` with every URL in it redacted (an error message quoting a connection string)."""
    return URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts URLs in every record's message before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
# Where a formula could start: the cell's start, or any line's (a spreadsheet may split a record
# at a bare CR, or show a quoted line break); ``= + - @``, a tab or a return after any spaces.
FORMULA_LINE = re.compile(r"(?:^|(?<=[\r\n]))(?= *[=+\-@\t\r])")


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell a spreadsheet will show as text, never run as a formula: each line of the text
    that starts with ``= + - @``, a tab or a return gets a leading apostrophe (plain numbers are
    left alone)."""
    if not isinstance(value, str) or PLAIN_NUMBER.fullmatch(value):
        return value
    return FORMULA_LINE.sub("'", value)
