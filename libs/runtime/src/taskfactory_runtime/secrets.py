"""Secrets given inline (``SecretStr``) or as files (Kubernetes secret mounts), read at use."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from taskfactory_contracts.errors import TaskFactoryError

__all__ = ["ConfigurationError", "read_secret", "resolve_secret"]


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
    return SecretStr(value)


def resolve_secret(value: SecretStr | None, file: Path | None, *, setting: str) -> SecretStr | None:
    """``value`` if given, else the content of ``file`` if given, else ``None``."""
    if value is not None:
        return value
    if file is not None:
        return read_secret(file, setting=f"{setting}_file")
    return None
