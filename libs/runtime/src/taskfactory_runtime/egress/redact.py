"""Credentials out of logs and error messages: URL userinfo, secret-looking query parameters
and headers (``Authorization``, ``Cookie``, ``X-Api-Key``…)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, unquote, urlencode

import httpx

__all__ = [
    "MASK",
    "HttpxLogRedaction",
    "install_httpx_log_redaction",
    "is_sensitive_name",
    "redact_url",
    "scrub",
    "secrets_of",
]

MASK = "***"
#: A query parameter or header whose lower-cased name contains one of these holds a secret.
#: Over-matching (``keyword``) only hides a harmless value; under-matching would leak one.
_STEMS = (
    "key",
    "token",
    "secret",
    "passw",
    "pwd",
    "auth",
    "signature",
    "credential",
    "session",
    "cookie",
    "jwt",
)
#: Shorter values are not scrubbed from free text: masking every "a" garbles the message.
_MIN_SCRUB_LENGTH = 3


#: Names the stems match that carry no secret and must survive a cross-origin redirect.
_NOT_SECRET = frozenset({"idempotency-key"})


def is_sensitive_name(name: str) -> bool:
    """True for a query parameter or header name that carries a credential."""
    lowered = name.lower()
    return lowered not in _NOT_SECRET and any(stem in lowered for stem in _STEMS)


def _parse(url: str | httpx.URL) -> httpx.URL | None:
    try:
        return url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return None


def redact_url(url: str | httpx.URL) -> str:
    """``url`` with its userinfo, secret query values and fragment masked."""
    parsed = _parse(url)
    if parsed is None:
        # Unparsable: say so without echoing what might hold a secret.
        text = str(url)
        scheme = text.split(":", 1)[0] if ":" in text else ""
        return f"{scheme}://(unparsable URL)" if scheme.isalpha() else "(unparsable URL)"
    if parsed.userinfo:
        parsed = parsed.copy_with(userinfo=MASK.encode())
    if parsed.query:
        pairs = parse_qsl(parsed.query.decode("ascii", "replace"), keep_blank_values=True)
        masked = [(k, MASK if is_sensitive_name(k) else v) for k, v in pairs]
        parsed = parsed.copy_with(query=urlencode(masked, safe="*").encode("ascii"))
    if parsed.fragment:
        parsed = parsed.copy_with(fragment=MASK)
    return str(parsed)


def secrets_of(
    url: str | httpx.URL, headers: Mapping[str, str] | httpx.Headers | None = None
) -> set[str]:
    """The credential values in ``url`` and ``headers``, raw and decoded, to scrub from text."""
    found: set[str] = set()
    parsed = _parse(url)
    if parsed is not None:
        userinfo = parsed.userinfo.decode("ascii", "replace")
        found.update((userinfo, *userinfo.split(":", 1), parsed.username, parsed.password or ""))
        raw_query = parsed.query.decode("ascii", "replace")
        for part in raw_query.split("&"):
            name, _, value = part.partition("=")
            if is_sensitive_name(unquote(name)):
                found.update((value, unquote(value)))
        if parsed.fragment:
            found.add(parsed.fragment)
    for name, value in (headers or {}).items():
        if is_sensitive_name(name):
            found.add(value)
            # "Bearer abc…": the credential alone may appear in a message too.
            found.update(value.split())
    return {s for s in found if len(s) >= _MIN_SCRUB_LENGTH}


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every value of ``secrets`` masked, longest first."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class HttpxLogRedaction(logging.Filter):
    """Masks credentials in the URL of httpx's own request log line (INFO ``HTTP Request:``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite URL arguments of the record; never drops it."""
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(a) if isinstance(a, httpx.URL) else a for a in record.args
            )
        return True


def install_httpx_log_redaction() -> None:
    """Attach :class:`HttpxLogRedaction` to the ``httpx`` logger (once)."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, HttpxLogRedaction) for f in logger.filters):
        logger.addFilter(HttpxLogRedaction())
