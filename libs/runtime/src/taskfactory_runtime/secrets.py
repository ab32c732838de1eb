"""Secrets given inline (``SecretStr``) or as files (Kubernetes secret mounts), read at use."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, SecretStr

from taskfactory_runtime.errors import ConfigurationError

__all__ = [
    "known_secrets",
    "read_secret",
    "register_secret",
    "register_secrets_of",
    "resolve_secret",
]

# Every secret value this process has loaded; the log renderer scrubs them from every line,
# so a secret that slips into a message (a library's exception text) is still not written.
_KNOWN: set[str] = set()


def register_secret(value: str) -> None:
    """Remember ``value`` as secret, whatever its length (an empty value is no secret).

    Short values are scrubbed too: a three-character admin token is still the admin token,
    and a log line with stray ``**redacted**`` marks is the lesser harm.
    """
    if value:
        _KNOWN.add(value)


def known_secrets() -> frozenset[str]:
    """The secret values registered so far."""
    return frozenset(_KNOWN)


def read_secret(path: Path, *, setting: str) -> SecretStr:
    """The content of ``path`` without its trailing newline, as a secret.

    Read on every call, so a rotated Kubernetes secret mount is picked up at the next
    connection. The error names the setting and the path, never the content.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else None
        raise ConfigurationError(
            f"{setting}: cannot read the secret file {path} ({why or type(exc).__name__})"
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


def register_secrets_of(settings: BaseModel) -> None:
    """Register every secret a settings tree holds, inline or in a readable file.

    Walks nested models, lists and dicts: every ``SecretStr`` is registered, and so is the
    content of every ``<name>_file`` path whose model also has a ``<name>`` secret field (the
    convention of every secret setting). A file that cannot be read now is left to the code
    that uses it, which reports it; the walk never fails a start.
    """
    for model in _models(settings):
        fields = type(model).model_fields
        for name, value in model.__dict__.items():
            if isinstance(value, SecretStr):
                register_secret(value.get_secret_value())
            elif (
                isinstance(value, Path)
                and name.endswith("_file")
                and name.removesuffix("_file") in fields
                and _is_secret_field(fields[name.removesuffix("_file")].annotation)
            ):
                # Unreadable now: reported, with the setting's name, where it is used.
                with contextlib.suppress(ConfigurationError):
                    read_secret(value, setting=name)


def _is_secret_field(annotation: object) -> bool:
    return annotation is SecretStr or "SecretStr" in repr(annotation)


def _models(root: object) -> Iterable[BaseModel]:
    stack: list[object] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, BaseModel):
            yield item
            stack.extend(item.__dict__.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
