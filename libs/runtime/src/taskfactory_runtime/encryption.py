"""Payload encryption: a Temporal ``PayloadCodec`` with AES-256-GCM and rotating key ids.

Every encoded payload carries the id of the key that sealed it in its metadata, so a keyring
holding the old and the new key reads histories written before a rotation, while new
payloads are sealed with the active key only. Payloads that are not encrypted (written
before encryption was turned on) pass through unchanged.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from taskfactory_runtime.errors import ConfigurationError, PayloadDecryptionError
from taskfactory_runtime.secrets import register_secret

__all__ = [
    "ENCODING",
    "KEY_ID_METADATA",
    "EncryptionCodec",
    "Keyring",
    "generate_key",
]

#: ``encoding`` metadata of an encrypted payload (the Temporal samples' convention).
ENCODING = b"binary/encrypted"
#: Metadata key naming the key that sealed the payload.
KEY_ID_METADATA = "encryption-key-id"
_NONCE_BYTES = 12


def generate_key() -> str:
    """A fresh AES-256 key, base64-encoded as the settings expect it."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


@dataclass(frozen=True)
class Keyring:
    """Key id → 256-bit key, plus the id new payloads are sealed with. Never shows the keys."""

    keys: Mapping[str, bytes] = field(repr=False)
    active: str

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise ConfigurationError(
                f"encryption: the active key id {self.active!r} is not among the configured "
                f"key ids {sorted(self.keys)}"
            )

    @classmethod
    def parse(cls, spec: str, *, active: str | None = None, setting: str = "keys") -> Keyring:
        """Read ``id:base64key[,id:base64key…]``; the active key defaults to the last listed.

        Errors name the setting and the key id, never key material.
        """
        keys: dict[str, bytes] = {}
        for i, item in enumerate(part.strip() for part in spec.replace("\n", ",").split(",")):
            if not item:
                continue
            key_id, sep, material = item.partition(":")
            register_secret(material.strip())
            key_id = key_id.strip()
            if not sep or not key_id:
                raise ConfigurationError(
                    f"{setting}: entry {i + 1} is not `key-id:base64-key` (key material hidden)"
                )
            try:
                key = base64.b64decode(material.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise ConfigurationError(
                    f"{setting}: the key of id {key_id!r} is not valid base64"
                ) from None
            if len(key) != 32:
                raise ConfigurationError(
                    f"{setting}: the key of id {key_id!r} has {len(key)} bytes; "
                    "AES-256 needs 32 (generate one with `openssl rand -base64 32`)"
                )
            if key_id in keys:
                raise ConfigurationError(f"{setting}: key id {key_id!r} is listed twice")
            keys[key_id] = key
        if not keys:
            raise ConfigurationError(f"{setting}: no encryption key configured")
        return cls(keys=keys, active=active or next(reversed(keys)))

    def __repr__(self) -> str:
        return f"Keyring(ids={sorted(self.keys)}, active={self.active!r})"


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each whole payload (metadata included), key id as associated data."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keyring.keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Seal every payload with the active key."""
        key_id = self.keyring.active
        cipher = self._ciphers[key_id]
        aad = key_id.encode()
        out: list[Payload] = []
        for payload in payloads:
            nonce = os.urandom(_NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), aad)
            out.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID_METADATA: aad},
                    data=nonce + sealed,
                )
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Open every encrypted payload with the key its metadata names; others pass."""
        out: list[Payload] = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                out.append(payload)
                continue
            key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise PayloadDecryptionError(
                    f"payload codec: the payload was encrypted with key id {key_id!r}, which is "
                    f"not in the keyring {sorted(self._ciphers)}; add that key to "
                    "TASKFACTORY_TEMPORAL__ENCRYPTION_KEYS (keep old keys after a rotation)"
                )
            data = payload.data
            try:
                plain = cipher.decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], key_id.encode())
            except InvalidTag:
                raise PayloadDecryptionError(
                    f"payload codec: a payload sealed with key id {key_id!r} failed "
                    "authentication (wrong key material for that id, or corrupted data)"
                ) from None
            out.append(Payload.FromString(plain))
        return out
