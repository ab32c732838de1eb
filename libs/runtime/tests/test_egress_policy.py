"""The egress policy over hostile hosts (property-based), the allow-lists, the settings as the
environment gives them, and credential redaction. Nothing here sends a packet anywhere but
127.0.0.1: non-loopback targets are only resolved (numerically) and checked."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Sequence
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskfactory_runtime.egress import (
    Egress,
    EgressPolicy,
    EgressRefused,
    EgressSettings,
    EgressUnreachable,
    InvalidRequest,
    IPAddress,
    IPNetwork,
    is_refused,
    redact_url,
    resolve_checked,
    scrub,
    secrets_of,
)
from taskfactory_runtime.settings import ServiceSettings

DEFAULT = EgressPolicy(EgressSettings())
LOOPBACK = EgressSettings.model_validate({"allowed_networks": "127.0.0.0/8,::1/128"})

# ---- hostile spellings of addresses that must stay unreachable -------------------------------
REFUSED_V4: list[IPNetwork] = [
    ipaddress.IPv4Network(n)
    for n in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",  # link-local: cloud metadata 169.254.169.254
        "0.0.0.0/8",
        "100.64.0.0/10",  # shared space: Alibaba metadata 100.100.100.200
        "224.0.0.0/4",
        "240.0.0.0/4",
        "192.0.0.0/24",  # Oracle metadata 192.0.0.192
        "168.63.129.16/32",  # Azure wire server
    )
]
REFUSED_V6: list[IPNetwork] = [
    ipaddress.IPv6Network(n)
    for n in ("::1/128", "::/128", "fe80::/10", "fc00::/7", "ff00::/8", "fd00:ec2::254/128")
]


def _in(draw: st.DrawFn, networks: Sequence[IPNetwork]) -> IPAddress:
    network = draw(st.sampled_from(networks))
    return network[draw(st.integers(0, network.num_addresses - 1))]


def _octet(draw: st.DrawFn, value: int) -> str:
    form = draw(st.sampled_from(["dec", "hex", "HEX", "oct"]))
    if form == "hex":
        return hex(value)
    if form == "HEX":
        return hex(value).upper().replace("0X", "0x" if draw(st.booleans()) else "0X")
    if form == "oct":
        return "0" + format(value, "o")  # a leading zero makes inet_aton read octal
    return str(value)


@st.composite
def hostile_v4(draw: st.DrawFn) -> tuple[str, ipaddress.IPv4Address]:
    """A spelling of a refused IPv4 address that a resolver or a URL parser reads as it."""
    address = ipaddress.IPv4Address(int(_in(draw, REFUSED_V4)))
    value = int(address)
    a, b, c, d = address.packed
    form = draw(
        st.sampled_from(["dotted", "int", "2part", "3part", "mapped", "mapped-hex", "compat"])
    )
    if form == "dotted":
        host = ".".join(_octet(draw, o) for o in (a, b, c, d))
    elif form == "int":
        host = _octet(draw, value)
    elif form == "2part":
        host = f"{_octet(draw, a)}.{_octet(draw, value & 0xFFFFFF)}"
    elif form == "3part":
        host = f"{_octet(draw, a)}.{_octet(draw, b)}.{_octet(draw, value & 0xFFFF)}"
    elif form == "mapped":
        host = f"[::ffff:{address}]"
    elif form == "mapped-hex":
        host = f"[0:0:0:0:0:ffff:{value >> 16:x}:{value & 0xFFFF:X}]"
    else:
        host = f"[::{address}]"  # IPv4-compatible IPv6 (deprecated)
    decoration = draw(st.sampled_from(["", "dot", "ideographic", "fullwidth"]))
    if decoration == "dot" and not host.startswith("["):
        host += "."
    elif decoration == "ideographic":
        host = host.replace(".", draw(st.sampled_from(["\u3002", "\uff0e", "\uff61"])))
    elif decoration == "fullwidth":
        host = "".join(chr(ord(ch) + 0xFEE0) if ch.isdigit() else ch for ch in host)
    return host, address


@st.composite
def hostile_v6(draw: st.DrawFn) -> tuple[str, IPAddress]:
    """A refused IPv6 address, compressed or exploded, any case."""
    address = _in(draw, REFUSED_V6)
    text = address.exploded if draw(st.booleans()) else address.compressed
    return f"[{text.upper() if draw(st.booleans()) else text}]", address


_LETTER_FORMS: dict[str, Callable[[str], str]] = {
    "upper": str.upper,
    "fullwidth": lambda ch: chr(ord(ch) + 0xFEE0),  # U+FF4C for l
    "circled": lambda ch: chr(ord(ch) - ord("a") + 0x24D0),  # U+24DB for l
    "mathematical": lambda ch: chr(ord(ch) - ord("a") + 0x1D41A),  # U+1D425 for l
}


@st.composite
def hostile_localhost(draw: st.DrawFn) -> tuple[str, IPAddress]:
    """``localhost`` as IDNA mappings spell it: letter by letter upper, fullwidth, circled or
    mathematical, soft hyphens and zero-width joiners inside, a trailing dot."""
    letters = []
    for ch in "localhost":
        form = draw(st.sampled_from(["plain", *_LETTER_FORMS]))
        letters.append(ch if form == "plain" else _LETTER_FORMS[form](ch))
        letters.append(draw(st.sampled_from(["", "", "\u00ad", "\u200d"])))
    return "".join(letters) + draw(st.sampled_from(["", "."])), ipaddress.ip_address("127.0.0.1")


def _resolves(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 80, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return False
    return True


def _assert_never_passes(host: str) -> None:
    """The property: parse it as httpx would, resolve it as the connection would; a hostile
    host that resolves is refused, one that does not cannot be connected to."""
    try:
        url = httpx.URL(f"http://{host}:8080/")
    except httpx.InvalidURL:
        return  # refused before any lookup (InvalidRequest)
    raw = url.raw_host.decode("ascii")  # what httpcore hands the network backend
    expected = EgressRefused if _resolves(raw) else EgressUnreachable
    with pytest.raises(expected):
        asyncio.run(resolve_checked(DEFAULT, raw, 8080))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile=st.one_of(hostile_v4(), hostile_v6(), hostile_localhost()))
def test_no_spelling_of_a_refused_address_passes(hostile: tuple[str, object]) -> None:
    host, _ = hostile
    _assert_never_passes(host)


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "localhost.", "LocalHost."])
def test_names_of_loopback_never_pass(host: str) -> None:
    _assert_never_passes(host)


# ---- the address rules -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "100.100.100.200",
        "168.63.129.16",
        "192.0.0.192",
        "224.0.0.251",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fd00:ec2::254",
        "ff02::1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",
        "2002:a9fe:a9fe::1",  # 6to4 carrying 169.254.169.254
        "64:ff9b::a9fe:a9fe",  # NAT64 carrying 169.254.169.254
    ],
)
def test_non_public_and_metadata_addresses_are_refused(address: str) -> None:
    assert is_refused(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert not is_refused(ipaddress.ip_address(address))
    DEFAULT.check_addresses("example.test", [ipaddress.ip_address(address)])


def test_one_private_address_among_public_ones_refuses_the_host() -> None:
    """A name answering public + private would reach the private one on some connect."""
    with pytest.raises(EgressRefused, match=r"10\.0\.0\.5"):
        DEFAULT.check_addresses(
            "mixed.example", [ipaddress.ip_address("8.8.8.8"), ipaddress.ip_address("10.0.0.5")]
        )


def test_allowed_networks_open_exactly_their_range() -> None:
    policy = EgressPolicy(
        EgressSettings.model_validate({"allowed_networks": "10.20.0.0/16,127.0.0.1/32"})
    )
    policy.check_addresses("internal", [ipaddress.ip_address("10.20.3.4")])
    policy.check_addresses("mapped", [ipaddress.ip_address("::ffff:127.0.0.1")])
    for other in ("10.21.0.1", "127.0.0.2", "169.254.169.254"):
        with pytest.raises(EgressRefused):
            policy.check_addresses("internal", [ipaddress.ip_address(other)])


def test_allowed_hosts_restrict_by_name_wildcard_or_cidr() -> None:
    policy = EgressPolicy(
        EgressSettings.model_validate({"allowed_hosts": "API.example.com.,*.svc.test,8.8.8.0/24"})
    )
    public = [ipaddress.ip_address("93.184.215.14")]
    policy.check_addresses("api.example.com", public)
    policy.check_addresses("billing.svc.test", public)
    policy.check_addresses("anything", [ipaddress.ip_address("8.8.8.8")])
    for host in (
        "evil.com",
        "api.example.com.evil.com",
        "evilapi.example.com",
        "svc.test",
        "a%20b",
    ):
        with pytest.raises(EgressRefused, match="allow-list"):
            policy.check_addresses(host, public)
    # An allowed name still cannot reach a non-public address.
    with pytest.raises(EgressRefused, match="non-public"):
        policy.check_addresses("api.example.com", [ipaddress.ip_address("169.254.169.254")])


def test_settings_come_from_comma_separated_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Settings(ServiceSettings):
        egress: EgressSettings = EgressSettings()

    monkeypatch.setenv("TASKFACTORY_EGRESS__ALLOWED_SCHEMES", "https")
    monkeypatch.setenv("TASKFACTORY_EGRESS__ALLOWED_HOSTS", "api.example.com, *.svc.test")
    monkeypatch.setenv("TASKFACTORY_EGRESS__ALLOWED_NETWORKS", "10.0.0.0/8,::1/128")
    monkeypatch.setenv("TASKFACTORY_EGRESS__REDIRECTS", "same-origin")
    egress = Settings().egress
    assert egress.allowed_schemes == ("https",)
    assert egress.allowed_hosts == ("api.example.com", "*.svc.test")
    assert [str(n) for n in egress.allowed_networks] == ["10.0.0.0/8", "::1/128"]
    assert egress.redirects == "same-origin"
    monkeypatch.setenv("TASKFACTORY_EGRESS__ALLOWED_SCHEMES", "https,gopher")
    with pytest.raises(ValueError, match="allowed_schemes"):
        Settings()


# ---- schemes and malformed URLs ----------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1:70/", "data:text/plain,hi"],
)
async def test_unsupported_schemes_are_refused(url: str) -> None:
    egress = Egress(LOOPBACK)
    try:
        with pytest.raises(EgressRefused, match="scheme") as refused:
            await egress.request("GET", url)
    finally:
        await egress.aclose()
    assert not refused.value.retryable


async def test_a_url_without_host_is_invalid_not_merged() -> None:
    egress = Egress(LOOPBACK)
    try:
        with pytest.raises(InvalidRequest, match="names no host"):
            await egress.request("GET", "http:///etc/passwd")
    finally:
        await egress.aclose()


# ---- redaction ---------------------------------------------------------------------------------
_SECRET = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.~!$",
    min_size=8,
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(
    secret=_SECRET,
    param=st.sampled_from(
        ["api_key", "token", "password", "X-Amz-Signature", "client_secret", "apiKey"]
    ),
)
def test_redact_url_masks_userinfo_and_secret_parameters(secret: str, param: str) -> None:
    url = f"http://user:{quote(secret, safe='')}@h.test/p?{param}={quote(secret, safe='')}&page=2"
    redacted = redact_url(url)
    assert secret not in redacted
    assert quote(secret, safe="") not in redacted
    assert "page=2" in redacted
    assert redacted.startswith("http://***@h.test/p?")


def test_scrub_masks_every_credential_of_the_request() -> None:
    url = "http://alice:hunter2pw@h.test/p?api_key=KEY123&x=1"
    headers = {"Authorization": "Bearer TOKEN456", "X-Api-Key": "APIKEY789", "Accept": "json"}
    text = "failed: alice hunter2pw KEY123 TOKEN456 APIKEY789 json"
    scrubbed = scrub(text, secrets_of(url, headers))
    for secret in ("alice", "hunter2pw", "KEY123", "TOKEN456", "APIKEY789"):
        assert secret not in scrubbed
    assert scrubbed.endswith("json")


def test_an_unparsable_url_is_not_echoed() -> None:
    assert redact_url("http://user:pw@[::1") == "http://(unparsable URL)"
