"""Secrets given inline (``SecretStr``) or as files (Kubernetes secret mounts), read at use."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from taskfactory_contracts.errors import TaskFactoryError

__all__ = [
    "ConfigurationError",
    "known_secrets",
    "read_secret",
    "register_secret",
    "resolve_secret",
]

# Every secret value this process has loaded; the log renderer scrubs them from every line,
# so a secret that slips into a message (a library's exception text) is still not written.
_KNOWN: set[str] = set()


def register_secret(value: str) -> None:
    """Remember ``value`` as secret (values shorter than 6 characters are too common to scrub)."""
    if len(value) >= 6:
        _KNOWN.add(value)


def known_secrets() -> frozenset[str]:
    """The secret values registered so far."""
    return frozenset(_KNOWN)


class ConfigurationError(TaskFactoryError):
    """A setting cannot be used as given (missing file, bad key); fix the configuration."""

    reason = "configuration"


def read_secret(path: Path, *, setting: str) -> SecretStr:
    """The content of ``path`` without its trailing newline, as a secret.

    Read on every call, so a rotated Kubernetes secret mount is picked up at the next
    connection. The error names the setting and the path, never the content.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"{setting}: cannot read the secret file {path} ({exc.strerror or type(exc).__name__})"
        ) from None
    value = text.rstrip("\r\n")
    if not value:
        raise ConfigurationError(f"{setting}: the secret file {path} is empty")
    register_secret(value)
    return SecretStr(value)


def resolve_secret(value: SecretStr | None, file: Path | None, *, setting: str) -> SecretStr | None:
    """``value`` if given, else the content of ``file`` if given, else ``None``."""
    if value is not None:
        register_secret(value.get_secret_value())
        return value
    if file is not None:
        return read_secret(file, setting=f"{setting}_file")
    return None
