"""A refused Temporal connection explains itself, naming the settings to check."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from taskfactory_runtime.errors import TemporalConnectError
from taskfactory_runtime.settings import TemporalSettings
from taskfactory_runtime.temporal import connect_temporal


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_with_an_api_key_the_error_names_the_key_setting_and_not_the_key(
    tmp_path: Path,
) -> None:
    key = tmp_path / "api-key"
    key.write_text("SENTINEL-api-key\n")
    address = f"127.0.0.1:{_closed_port()}"
    with pytest.raises(TemporalConnectError) as failure:
        await connect_temporal(TemporalSettings(address=address, api_key_file=key))
    message = str(failure.value)
    assert f"cannot connect to {address} (namespace default, TLS, API key)" in message
    assert "TASKFACTORY_TEMPORAL__API_KEY_FILE" in message
    assert "not expired" in message
    assert "SENTINEL-api-key" not in message


async def test_without_an_api_key_the_error_does_not_mention_one() -> None:
    address = f"127.0.0.1:{_closed_port()}"
    with pytest.raises(TemporalConnectError) as failure:
        await connect_temporal(TemporalSettings(address=address))
    assert "API" not in str(failure.value)
    assert "plaintext" in str(failure.value)
