"""Secrets kept out of what people and logs see (passwords in URLs, tokens in query strings), and
text kept from being run by what opens it (formulas in CSV cells).

A leaf module (it imports nothing of openlfr's), so every layer may use it, as it may use
``settings`` and ``errors``.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
SECRET_NAMES = re.compile(r"pass|secret|token|key|sig|auth|credential|session", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with the password of its user part, and the values of query parameters that look
    secret, replaced by ``***``; anything that is not a URL is returned as it is."""
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK  # unparseable but URL-like: show nothing rather than a secret
    netloc = parts.netloc
    if "@" in netloc:  # user:password@host, or a token alone as the user part
        user, _, host = netloc.rpartition("@")
        name, has_password, _ = user.partition(":")
        looks_secret = SECRET_NAMES.search(name) or len(name) > 24
        netloc = f"{name}:{MASK}@{host}" if has_password else f"{MASK}@{host}" if looks_secret else netloc
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if SECRET_NAMES.search(k) else v) for k, v in pairs], safe="*")
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # nothing secret: as written (urlunsplit would tidy ``sqlite:////path``)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def redact(value: Any) -> Any:
    """A JSON-like value (dicts, lists, strings) with every URL in it redacted."""
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_url(value)
    return value


URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


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


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell a spreadsheet will show as text, never run as a formula: text that starts with
    ``= + - @``, a tab or a return gets a leading apostrophe (plain numbers are left alone)."""
    if not isinstance(value, str) or PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value if value.lstrip(" ").startswith(FORMULA_START) else value
