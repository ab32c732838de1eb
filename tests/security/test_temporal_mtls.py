"""Temporal over mTLS: a TLS-terminating proxy (the dev server has no TLS options) in front of
the shared Temporal requires a client certificate from the test's CA.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import StackInfo

from taskfactory_runtime.errors import TemporalConnectError
from taskfactory_runtime.settings import TemporalSettings
from taskfactory_runtime.temporal import connect_temporal
from taskfactory_stack.tls import CertificateAuthority, IssuedCert, TlsProxy

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@dataclass(frozen=True)
class MtlsFrontend:
    """The proxy's address and the files clients use."""

    address: str
    ca: Path
    client: IssuedCert


@pytest.fixture
async def frontend(stack: StackInfo, tmp_path: Path) -> AsyncIterator[MtlsFrontend]:
    ca = CertificateAuthority(tmp_path / "ca")
    server = ca.issue("temporal-frontend", hosts=("127.0.0.1", "localhost"))
    client = ca.issue("taskfactory-client", client=True)
    host, _, port = stack.temporal_address.rpartition(":")
    proxy = TlsProxy((host, int(port)), server, client_ca=ca.cert)
    await proxy.start()
    try:
        yield MtlsFrontend(proxy.address, ca.cert, client)
    finally:
        await proxy.stop()


def _settings(frontend: MtlsFrontend, client: IssuedCert | None) -> TemporalSettings:
    return TemporalSettings(
        address=frontend.address,
        tls_server_ca=frontend.ca,
        tls_client_cert=client.cert if client else None,
        tls_client_key=client.key if client else None,
    )


async def test_a_client_with_the_right_certificate_runs_requests_over_mtls(
    frontend: MtlsFrontend, uid: str
) -> None:
    client = await connect_temporal(_settings(frontend, frontend.client))
    count = await client.count_workflows(f"WorkflowId = '{uid}'")
    assert count.count == 0
    assert client.service_client.config.tls is not None


async def test_a_certificate_from_another_ca_is_refused_with_a_clear_error(
    frontend: MtlsFrontend, tmp_path: Path
) -> None:
    impostor = CertificateAuthority(tmp_path / "impostor").issue("impostor", client=True)
    with pytest.raises(TemporalConnectError) as failure:
        await connect_temporal(_settings(frontend, impostor))
    message = str(failure.value)
    assert f"cannot connect to {frontend.address}" in message
    assert "mTLS" in message
    assert "TLS_CLIENT_CERT" in message


async def test_no_client_certificate_is_refused(frontend: MtlsFrontend) -> None:
    with pytest.raises(TemporalConnectError, match=r"\(namespace default, TLS\)"):
        await connect_temporal(_settings(frontend, None))


async def test_an_untrusted_server_certificate_is_refused(
    frontend: MtlsFrontend, tmp_path: Path
) -> None:
    stranger = CertificateAuthority(tmp_path / "stranger").cert
    settings = _settings(frontend, frontend.client).model_copy(update={"tls_server_ca": stranger})
    with pytest.raises(TemporalConnectError, match="TLS_SERVER_CA"):
        await connect_temporal(settings)
