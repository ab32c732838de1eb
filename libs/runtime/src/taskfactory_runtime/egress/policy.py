"""Which schemes, hosts and addresses tasks and context sources may reach (pure, no I/O).

The deciding check is on *addresses*: every address a host resolves to must be public, or
inside a network the deployment allows. So ``http://2130706433/``, ``http://0x7f.1/``,
``http://[::ffff:127.0.0.1]/``, ``localhost.`` and a DNS name pointing at 169.254.169.254 all
meet the same rule, because the resolver turns each of them into the address that is checked.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Literal

import idna
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    PositiveFloat,
    PositiveInt,
    field_validator,
)
from pydantic_settings import NoDecode

from taskfactory_runtime.egress.errors import EgressRefused

__all__ = [
    "REFUSED_NETWORKS",
    "EgressPolicy",
    "EgressSettings",
    "IPAddress",
    "IPNetwork",
    "RedirectPolicy",
    "is_refused",
    "normalise_host",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
RedirectPolicy = Literal["off", "same-origin", "any"]
_ENV = "TASKFACTORY_EGRESS__"

#: Refused on top of every address that is not globally routable, multicast or reserved
#: (``is_global`` is False for loopback, RFC 1918, link-local, fc00::/7, 100.64/10, unspecified
#: and documentation ranges; ``is_reserved`` covers 240/4 and every IPv6 outside 2000::/3).
REFUSED_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "168.63.129.16/32",  # Azure wire server / metadata: a public address
        "192.0.0.0/24",  # IETF protocol assignments (Oracle Cloud metadata 192.0.0.192)
        "224.0.0.0/4",  # multicast (Python calls part of it global)
        "240.0.0.0/4",  # reserved, broadcast
        "ff00::/8",  # IPv6 multicast
        "64:ff9b::/96",  # NAT64: the embedded IPv4 is checked separately
        "64:ff9b:1::/48",  # local-use NAT64
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _comma_list(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class EgressSettings(BaseModel):
    """Task egress (``http`` tasks and ``http`` context sources), deployment-wide."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    allowed_schemes: Annotated[tuple[Literal["http", "https"], ...], NoDecode] = ("http", "https")
    """URL schemes tasks may use, comma-separated; others fail non-retryably."""
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    """Hosts tasks may reach, comma-separated: names, `*.example.com` or CIDRs (matched on the
    resolved addresses); empty = any host with a public address."""
    allowed_networks: Annotated[tuple[IPvAnyNetwork, ...], NoDecode] = ()
    """Non-public networks tasks may reach anyway (CIDRs, comma-separated, e.g. `10.20.0.0/16`);
    loopback, private, link-local, cloud metadata, multicast and unspecified addresses are
    refused otherwise."""
    redirects: RedirectPolicy = "off"
    """Follow redirects: off, same-origin or any; every hop is checked again."""
    max_redirects: int = Field(default=5, ge=0, le=20)
    """Redirect hops followed."""
    max_response_bytes: PositiveInt = 1024 * 1024
    """Largest response body read (decoded); larger fails non-retryably."""
    max_timeout_seconds: PositiveFloat = 60.0
    """Cap on a request's `timeout_seconds`, for the whole exchange (connect, redirects and body).
    """

    _split = field_validator("allowed_schemes", "allowed_hosts", "allowed_networks", mode="before")(
        _comma_list
    )

    @field_validator("allowed_hosts")
    @classmethod
    def _valid_hosts(cls, hosts: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for entry in hosts:
            if "/" in entry or _ip_literal(entry) is not None:
                out.append(str(ipaddress.ip_network(entry, strict=False)))
                continue
            wildcard = entry.startswith("*.")
            name = normalise_host(entry[2:] if wildcard else entry)
            out.append(f"*.{name}" if wildcard else name)
        return tuple(out)


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def normalise_host(host: str) -> str:
    """``host`` as DNS sees it: IDNA (UTS 46) ASCII, lower case, no trailing dot."""
    host = host.strip().rstrip(".")
    if _ip_literal(host) is not None:
        return host.strip("[]").lower()
    try:
        return idna.encode(host, uts46=True).decode("ascii").lower()
    except idna.IDNAError as exc:
        raise ValueError(f"invalid host name {host!r}: {exc}") from None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64, Teredo client), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_refused(address: IPAddress) -> bool:
    """True for an address no task may reach by default (not public, or a metadata service)."""
    if not address.is_global or address.is_multicast or address.is_reserved:
        return True
    if _within(address, REFUSED_NETWORKS):
        return True
    embedded = _embedded_ipv4(address)
    return embedded is not None and is_refused(embedded)


def _within(address: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    """True if ``address`` (or the IPv4 address it maps, ``::ffff:a.b.c.d``) is in one of
    ``networks``; versions are compared first (``in`` alone compares bits across versions)."""
    candidates: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)
    return any(a.version == n.version and a in n for n in networks for a in candidates)


@dataclass(frozen=True)
class EgressPolicy:
    """The settings, parsed for checking."""

    settings: EgressSettings

    @property
    def schemes(self) -> tuple[str, ...]:
        """The allowed URL schemes."""
        return self.settings.allowed_schemes

    def _names(self) -> tuple[list[str], list[IPNetwork]]:
        names, networks = [], []
        for entry in self.settings.allowed_hosts:
            if "/" in entry:
                networks.append(ipaddress.ip_network(entry))
            else:
                names.append(entry)
        return names, networks

    def check_scheme(self, scheme: str) -> None:
        """Refuse a scheme the deployment does not allow."""
        if scheme.lower() not in self.schemes:
            raise EgressRefused(
                f"scheme {scheme or '(none)'!r} is not allowed "
                f"(allowed: {', '.join(self.schemes)}; {_ENV}ALLOWED_SCHEMES)"
            )

    def host_named(self, host: str) -> bool:
        """True if ``host`` is allowed by name (an exact or ``*.`` entry of allowed_hosts)."""
        names, _ = self._names()
        try:
            host = normalise_host(host)
        except ValueError:  # not a valid name: it cannot be one that is listed
            return False
        return any(
            host == entry or (entry.startswith("*.") and host.endswith(entry[1:]))
            for entry in names
        )

    def check_addresses(self, host: str, addresses: Iterable[IPAddress]) -> None:
        """Refuse unless every address ``host`` resolved to may be reached.

        Every address, not just one: a name that answers with one public and one private
        address would otherwise reach the private one on a later connect.
        """
        addresses = list(addresses)
        if not addresses:
            raise EgressRefused(f"host {host!r} resolved to no address")
        _, host_networks = self._names()
        restricted = bool(self.settings.allowed_hosts) and not self.host_named(host)
        for address in addresses:
            if restricted and not _within(address, host_networks):
                raise EgressRefused(
                    f"host {host!r} ({address}) is not in the allow-list ({_ENV}ALLOWED_HOSTS)"
                )
            if is_refused(address) and not _within(address, self.settings.allowed_networks):
                raise EgressRefused(
                    f"host {host!r} resolves to {address}, a non-public address "
                    f"(loopback, private, link-local, metadata, multicast or unspecified); "
                    f"allow its network in {_ENV}ALLOWED_NETWORKS to reach it"
                )
