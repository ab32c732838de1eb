"""Task egress against real local HTTP servers: loopback aliases, redirects, oversized and
compressed bodies, slow servers, cookies and credentials — through the egress client and
through the orchestrator's ``http`` context source. Only 127.0.0.1 is ever connected to."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from support.hostile_server import HUGE_BYTES, ConnectionCounter, HostileServer, hostile_server
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from taskfactory_contracts import HttpContext
from taskfactory_orchestrator.activities import ContextActivities
from taskfactory_orchestrator.models import ResolveContextInput
from taskfactory_runtime.egress import (
    Egress,
    EgressRefused,
    EgressSettings,
    EgressTimeout,
    EgressUnreachable,
    InvalidRequest,
    ResponseTooLarge,
)

pytestmark = [pytest.mark.timeout(60)]

LOOPBACK = "127.0.0.0/8,::1/128"
METADATA = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"


def _settings(**values: Any) -> EgressSettings:
    return EgressSettings.model_validate({"allowed_networks": LOOPBACK, **values})


@pytest.fixture
async def server() -> AsyncIterator[HostileServer]:
    async with hostile_server() as running:
        yield running


async def _request(settings: EgressSettings, url: str, **options: Any) -> Any:
    egress = Egress(settings)
    try:
        return await egress.request(options.pop("method", "GET"), url, **options)
    finally:
        await egress.aclose()


# ---- addresses -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "2130706433",
        "0x7f000001",
        "0x7f.0.0.1",
        "0x7f.1",
        "127.1",
        "[::ffff:127.0.0.1]",
    ],
)
async def test_loopback_and_its_aliases_are_refused_by_default_without_connecting(
    host: str,
) -> None:
    """A name or numeric form resolving to loopback is refused on the resolved address; the
    same spelling connects when loopback is allowed, so the refusal is the policy's."""
    async with ConnectionCounter() as counter:
        url = f"http://{host}:{counter.port}/"
        with pytest.raises(EgressRefused, match="non-public address") as refused:
            await _request(EgressSettings(), url)
        assert not refused.value.retryable
        assert counter.connections == 0
        with pytest.raises(EgressUnreachable):  # the counter hangs up at once
            await _request(_settings(), url)
        assert counter.connections >= 1


async def test_allowed_hosts_refuse_a_host_not_listed(server: HostileServer) -> None:
    only_api = _settings(allowed_hosts="api.example.com")
    with pytest.raises(EgressRefused, match="allow-list"):
        await _request(only_api, server.url("/json"))
    assert server.requests == []
    by_cidr = _settings(allowed_hosts="127.0.0.1/32")
    assert (await _request(by_cidr, server.url("/json"))).json() == {"ok": True}


# ---- redirects -------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", ["off", "same-origin", "any"])
async def test_a_redirect_to_the_metadata_address_is_refused_whatever_the_policy(
    server: HostileServer, policy: str
) -> None:
    url = server.url(f"/redirect?to={METADATA}")
    with pytest.raises(EgressRefused) as refused:
        await _request(_settings(redirects=policy), url)
    assert "169.254.169.254" in str(refused.value)
    assert not refused.value.retryable
    assert server.paths() == ["/redirect"]


async def test_redirects_are_off_by_default(server: HostileServer) -> None:
    with pytest.raises(EgressRefused, match="redirects are off"):
        await _request(_settings(), server.url(f"/redirect?to={server.url('/json')}"))
    assert server.paths() == ["/redirect"]


async def test_same_origin_follows_its_own_origin_only(server: HostileServer) -> None:
    same = server.url(f"/redirect?to={server.url('/json')}")
    answer = await _request(_settings(redirects="same-origin"), same)
    assert (answer.status, answer.json()) == (200, {"ok": True})
    other = server.url(f"/redirect?to={server.url('/json', host='localhost')}")
    with pytest.raises(EgressRefused, match="another origin"):
        await _request(_settings(redirects="same-origin"), other)
    assert server.paths() == ["/redirect", "/json", "/redirect"]


async def test_a_cross_origin_hop_drops_credential_headers(server: HostileServer) -> None:
    url = server.url(f"/redirect?to={server.url('/echo', host='localhost')}")
    headers = {
        "X-Api-Key": "k-123456",
        "Authorization": "Bearer t-123456",
        "X-Trace": "keep",
        "Idempotency-Key": "run-1/task-1",
    }
    answer = await _request(_settings(redirects="any"), url, headers=headers)
    seen = {k.lower(): v for k, v in answer.json()["headers"].items()}
    assert "x-api-key" not in seen
    assert "authorization" not in seen
    assert (seen["x-trace"], seen["idempotency-key"]) == ("keep", "run-1/task-1")


async def test_a_head_request_is_not_refused_for_the_size_it_declares(
    server: HostileServer,
) -> None:
    answer = await _request(_settings(), server.url("/huge"), method="HEAD")
    assert (answer.status, answer.content) == (200, b"")


async def test_redirect_hops_are_bounded(server: HostileServer) -> None:
    loop = server.url("/redirect?to=/redirect%3Fto%3D/json")
    with pytest.raises(EgressRefused, match="more than 1 redirects"):
        await _request(_settings(redirects="any", max_redirects=1), loop)


# ---- response size ---------------------------------------------------------------------------
@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
async def test_a_300_mb_body_is_stopped_at_the_limit(server: HostileServer, chunked: bool) -> None:
    url = server.url("/huge" + ("?chunked" if chunked else ""))
    with pytest.raises(ResponseTooLarge, match="1048576-byte limit") as too_large:
        await _request(_settings(), url)
    assert not too_large.value.retryable
    await server.huge_done.wait()
    assert server.huge_sent < 32 * 1024 * 1024 < HUGE_BYTES


async def test_a_compressed_body_is_limited_by_its_decoded_size(server: HostileServer) -> None:
    with pytest.raises(ResponseTooLarge, match="stopped reading"):
        await _request(_settings(), server.url("/gzip-bomb"))


async def test_a_body_at_the_limit_is_read_whole(server: HostileServer) -> None:
    answer = await _request(
        _settings(max_response_bytes=200_000), server.url("/sized?bytes=150000")
    )
    assert len(answer.json()["blob"]) == 150_000


# ---- time --------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/hang", "/drip"])
async def test_the_timeout_is_capped_for_the_whole_exchange(
    server: HostileServer, path: str
) -> None:
    """A server dripping one byte at a time never trips a per-read timeout; the cap holds."""
    with pytest.raises(EgressTimeout, match="capped") as timed_out:
        await _request(_settings(max_timeout_seconds=1), server.url(path), timeout_seconds=3600)
    assert timed_out.value.retryable
    assert "within 1 s" in str(timed_out.value)


# ---- cookies and credentials -------------------------------------------------------------------
async def test_cookies_never_travel_from_one_request_to_another(server: HostileServer) -> None:
    egress = Egress(_settings())
    try:
        await egress.request("GET", server.url("/set-cookie"))
        seen = (await egress.request("GET", server.url("/echo"))).json()["headers"]
    finally:
        await egress.aclose()
    assert "Cookie" not in seen


SENTINELS = ("hunter2-PASSWORD", "KEY-3f9a1c", "TOKEN-77be0d", "BEARER-5e1c2a")


async def test_credentials_reach_neither_logs_nor_error_messages(
    server: HostileServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    password, key, token, bearer = SENTINELS
    query = f"?api_key={key}&access_token={token}&page=2"
    headers = {"Authorization": f"Bearer {bearer}"}
    ok = f"http://alice:{password}@127.0.0.1:{server.port}/json{query}"
    answer = await _request(_settings(), ok, headers=headers)
    messages = [answer.url]
    closed = f"http://alice:{password}@127.0.0.1:1/json{query}"
    refused = f"http://alice:{password}@localhost:{server.port}/json{query}"
    bad_header = {"X-Api-Key": f"{bearer}\r\nX-Injected: 1"}
    for url, settings, extra in (
        (closed, _settings(), headers),
        (refused, EgressSettings(), headers),
        (ok, _settings(), bad_header),
    ):
        with pytest.raises((EgressUnreachable, EgressRefused, InvalidRequest)) as failed:
            await _request(settings, url, headers=extra)
        messages.append(str(failed.value))
    output = caplog.text
    assert "HTTP Request: GET http://***@127.0.0.1" in output  # httpx's own line, redacted
    for text in (*messages, output):
        for sentinel in SENTINELS:
            assert sentinel not in text, text
    # Still sent: the URL's userinfo as Basic credentials (httpx prefers it to the header).
    assert server.requests[0][1]["Authorization"].startswith("Basic ")


# ---- the orchestrator's http context source ---------------------------------------------------
def _context(url: str, timeout: float = 10) -> ResolveContextInput:
    source = HttpContext(kind="http", url=url, timeout=timedelta(seconds=timeout))
    return ResolveContextInput(name="doc", source=source)


async def _resolve(settings: EgressSettings, arg: ResolveContextInput) -> Any:
    egress = Egress(settings)
    try:
        return await ActivityEnvironment().run(ContextActivities(egress).resolve_context, arg)
    finally:
        await egress.aclose()


async def test_the_http_context_source_shares_the_egress_policy(server: HostileServer) -> None:
    assert await _resolve(_settings(), _context(server.url("/json"))) == {"ok": True}
    cases = {
        "EgressRefused": (EgressSettings(), server.url("/json")),
        "ResponseTooLarge": (_settings(), server.url("/huge")),
        "InvalidRequest": (_settings(), "http:///no-host"),
    }
    for error_type, (settings, url) in cases.items():
        with pytest.raises(ApplicationError) as failed:
            await _resolve(settings, _context(url))
        assert (failed.value.type, failed.value.non_retryable) == (error_type, True)
        assert failed.value.message.startswith("context doc: GET ")
    with pytest.raises(ApplicationError) as refused:
        await _resolve(_settings(), _context(server.url(f"/redirect?to={METADATA}")))
    assert refused.value.type == "EgressRefused"


async def test_the_http_context_timeout_is_capped(server: HostileServer) -> None:
    with pytest.raises(ApplicationError) as failed:
        await _resolve(_settings(max_timeout_seconds=1), _context(server.url("/hang"), 3600))
    assert (failed.value.type, failed.value.non_retryable) == ("HttpTimeout", False)
    assert "capped" in failed.value.message
