"""Payload encryption: AES-256-GCM per payload, key ids in metadata, rotation, no key leaks."""

from __future__ import annotations

import base64

import pytest
from temporalio.api.common.v1 import Payload

from taskfactory_runtime.encryption import (
    ENCODING,
    KEY_ID_METADATA,
    EncryptionCodec,
    Keyring,
    generate_key,
)
from taskfactory_runtime.errors import ConfigurationError, PayloadDecryptionError

SENTINEL = b"SENTINEL-customer-4711"
KEY_A = generate_key()
KEY_B = generate_key()


def _payload(data: bytes = SENTINEL) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=b'"' + data + b'"')


async def test_encoded_payloads_hide_the_data_and_name_their_key() -> None:
    codec = EncryptionCodec(Keyring.parse(f"a:{KEY_A}"))
    [sealed] = await codec.encode([_payload()])
    assert SENTINEL not in sealed.SerializeToString()
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID_METADATA] == b"a"
    assert await codec.decode([sealed]) == [_payload()]


async def test_the_same_payload_encrypts_differently_each_time() -> None:
    codec = EncryptionCodec(Keyring.parse(f"a:{KEY_A}"))
    first, second = await codec.encode([_payload(), _payload()])
    assert first.data != second.data


async def test_after_rotation_old_payloads_decode_and_new_ones_use_the_new_key() -> None:
    old = EncryptionCodec(Keyring.parse(f"a:{KEY_A}"))
    rotated = EncryptionCodec(Keyring.parse(f"a:{KEY_A},b:{KEY_B}"))
    [written_with_a] = await old.encode([_payload()])
    [written_with_b] = await rotated.encode([_payload()])
    assert written_with_b.metadata[KEY_ID_METADATA] == b"b"
    assert await rotated.decode([written_with_a, written_with_b]) == [_payload(), _payload()]


async def test_a_missing_key_id_is_a_clear_error_without_key_material() -> None:
    [sealed] = await EncryptionCodec(Keyring.parse(f"a:{KEY_A}")).encode([_payload()])
    only_b = EncryptionCodec(Keyring.parse(f"b:{KEY_B}"))
    with pytest.raises(
        PayloadDecryptionError, match=r"key id 'a'.*not in the keyring \['b'\]"
    ) as e:
        await only_b.decode([sealed])
    assert KEY_B not in str(e.value)


async def test_tampered_ciphertext_or_swapped_key_material_is_refused() -> None:
    codec = EncryptionCodec(Keyring.parse(f"a:{KEY_A}"))
    [sealed] = await codec.encode([_payload()])
    tampered = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + b"\x00")
    with pytest.raises(PayloadDecryptionError, match="failed authentication"):
        await codec.decode([tampered])
    impostor = EncryptionCodec(Keyring.parse(f"a:{KEY_B}"))
    with pytest.raises(PayloadDecryptionError, match="key id 'a'"):
        await impostor.decode([sealed])


async def test_payloads_written_before_encryption_pass_through() -> None:
    codec = EncryptionCodec(Keyring.parse(f"a:{KEY_A}"))
    assert await codec.decode([_payload()]) == [_payload()]


def test_the_active_key_is_the_last_listed_unless_named() -> None:
    assert Keyring.parse(f"a:{KEY_A}, b:{KEY_B}").active == "b"
    assert Keyring.parse(f"a:{KEY_A}\nb:{KEY_B}", active="a").active == "a"
    with pytest.raises(ConfigurationError, match="active key id 'c'"):
        Keyring.parse(f"a:{KEY_A}", active="c")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "no encryption key"),
        (f"{KEY_A}", "not `key-id:base64-key`"),
        ("a:not base64!", "'a' is not valid base64"),
        (f"a:{base64.b64encode(b'short').decode()}", "'a' has 5 bytes"),
        (f"a:{KEY_A},a:{KEY_B}", "'a' is listed twice"),
    ],
)
def test_bad_keyrings_say_what_is_wrong_without_showing_keys(spec: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as e:
        Keyring.parse(spec)
    assert KEY_A not in str(e.value)
    assert KEY_B not in str(e.value)


def test_a_keyring_never_shows_its_keys() -> None:
    ring = Keyring.parse(f"a:{KEY_A},b:{KEY_B}")
    raw = base64.b64decode(KEY_A)
    for text in (repr(ring), str(ring)):
        assert KEY_A not in text
        assert repr(raw) not in text
