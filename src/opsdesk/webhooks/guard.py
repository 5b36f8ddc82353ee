"""Keep outbound webhooks away from internal addresses (server-side request forgery).

A delivery may reach only globally routable addresses. Private, loopback, link-local,
multicast, unspecified and reserved addresses, and the cloud metadata services, are
rejected unless OPSDESK_WEBHOOK_ALLOWED_HOSTS lists the host or a network around the address.

`GuardedTransport` resolves the URL's host once, checks every address it resolves to, and
connects to a checked address, keeping the original Host header and TLS server name. So a
DNS answer that changes between the check and the connection (DNS rebinding) cannot send
the request elsewhere, and every redirect a client follows passes the same check.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

import httpx

from opsdesk.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

ALLOWED_HOSTS_VARIABLE = "OPSDESK_WEBHOOK_ALLOWED_HOSTS"

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(value)
    for value in (
        "169.254.169.254",  # AWS, Azure, GCP, Oracle and OpenStack instance metadata
        "169.254.170.2",  # AWS ECS task metadata and credentials
        "fd00:ec2::254",  # AWS instance metadata over IPv6
        "100.100.100.200",  # Alibaba Cloud instance metadata
        "168.63.129.16",  # Azure platform endpoint; a public address, so listed by hand
    )
)
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
_NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$")


class OutboundBlocked(Exception):
    """The URL's host is, or resolves to, an address that webhooks may not reach."""


class ResolutionFailed(Exception):
    """The URL's host name did not resolve; the receiver may be back later."""


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve `host` with the operating system's resolver, keeping the order it returns."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ResolutionFailed(f"DNS lookup of {host} failed: {exc.strerror or exc}") from exc
    # An IPv6 link-local result carries its zone ("fe80::1%eth0"), which ip_address rejects.
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


def literal_address(host: str) -> IPAddress | None:
    """Return the address a host written as an address stands for, or None for a name.

    Besides the usual forms this accepts what the C resolver also reads as IPv4
    (127.1, 2130706433, 0x7f.1), so those cannot pass as names.
    """
    host = host.strip("[]").lower()
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address inside an IPv4-mapped, NAT64, 6to4 or Teredo IPv6 address."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def blocked_reason(address: IPAddress) -> str | None:
    """Return why webhooks may not reach `address` (as "a loopback address"), or None."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        reason = blocked_reason(embedded)
        if reason is not None:
            return f"{reason} inside an IPv6 address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "an address that is not globally routable"
    return None


def _name_reason(host: str) -> str | None:
    if host == "localhost" or host.endswith(".localhost"):
        return "a localhost name, which resolves to a loopback address"
    if host in METADATA_HOSTS:
        return "a cloud metadata host name"
    return None


@dataclass(frozen=True)
class OutboundGuard:
    """Decide which hosts and addresses webhooks may reach."""

    networks: tuple[IPNetwork, ...] = ()
    host_names: frozenset[str] = frozenset()
    domains: tuple[str, ...] = ()
    """Suffixes such as ``.corp.example`` from ``*.corp.example`` entries."""
    resolver: Resolver = field(default=system_resolver, compare=False)

    @classmethod
    def from_entries(
        cls, entries: Iterable[str], *, resolver: Resolver = system_resolver
    ) -> OutboundGuard:
        """Build a guard from allow-list entries: addresses, networks and host names."""
        networks: list[IPNetwork] = []
        names: set[str] = set()
        domains: list[str] = []
        for entry in entries:
            entry = entry.strip().lower()
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            if entry.startswith("*."):
                domains.append(entry[1:])
            else:
                names.add(entry.rstrip("."))
        return cls(
            networks=tuple(networks),
            host_names=frozenset(names),
            domains=tuple(domains),
            resolver=resolver,
        )

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return host in self.host_names or any(host.endswith(domain) for domain in self.domains)

    def address_allowed(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)

    def _blocked_error(self, host: str, address: IPAddress, reason: str) -> OutboundBlocked:
        if literal_address(host) == address:
            where = str(address)
        else:
            where = f"{host} resolves to {address}"
        return OutboundBlocked(
            f"{where}, {reason}, which webhooks may not reach; if the receiver really runs "
            f"there, add {host} or its network to {ALLOWED_HOSTS_VARIABLE}"
        )

    def check_url(self, url: str) -> None:
        """Check a URL without resolving it: its scheme, a literal address, internal names.

        The address a name resolves to is checked when a delivery is sent, because it may
        change after the subscription was made.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise OutboundBlocked(f"URL scheme {parts.scheme or 'none'} is not http or https")
        host = (parts.hostname or "").lower()
        if not host:
            raise OutboundBlocked("the URL has no host")
        if self.host_allowed(host):
            return
        address = literal_address(host)
        if address is not None:
            reason = blocked_reason(address)
            if reason is not None and not self.address_allowed(address):
                raise self._blocked_error(host, address, reason)
            return
        reason = _name_reason(host.rstrip("."))
        if reason is not None:
            raise OutboundBlocked(
                f"{host} is {reason}, which webhooks may not reach; if the receiver really "
                f"runs there, add {host} to {ALLOWED_HOSTS_VARIABLE}"
            )

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Return the addresses to connect to for `host`, every one of them checked.

        Raise OutboundBlocked when any address `host` resolves to is blocked, because a
        name with one internal address among public ones is an attempt to reach it.
        Raise ResolutionFailed when the name does not resolve.
        """
        host = host.strip("[]").lower()
        allowed_name = self.host_allowed(host)
        literal = literal_address(host)
        if literal is not None:
            addresses: list[IPAddress] = [literal]
        else:
            if not allowed_name:
                reason = _name_reason(host.rstrip("."))
                if reason is not None:
                    raise OutboundBlocked(
                        f"{host} is {reason}, which webhooks may not reach; if the receiver "
                        f"really runs there, add {host} to {ALLOWED_HOSTS_VARIABLE}"
                    )
            addresses = [ipaddress.ip_address(value) for value in await self.resolver(host, port)]
            if not addresses:
                raise ResolutionFailed(f"DNS lookup of {host} returned no address")
        if allowed_name:
            return addresses
        for address in addresses:
            reason = blocked_reason(address)
            if reason is not None and not self.address_allowed(address):
                raise self._blocked_error(host, address, reason)
        return addresses


@lru_cache(maxsize=8)
def _guard_for_entries(entries: tuple[str, ...]) -> OutboundGuard:
    return OutboundGuard.from_entries(entries)


def guard_for(settings: Settings) -> OutboundGuard:
    """Return the guard of these settings, using the system resolver."""
    return _guard_for_entries(tuple(settings.webhook_allowed_hosts))


def _default_port(url: httpx.URL) -> int:
    if url.port is not None:
        return url.port
    return 443 if url.scheme == "https" else 80


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that connects only to addresses the guard accepted.

    Each host name gets its own connection pool, so a TLS connection made for one name
    is never reused for another name that resolves to the same address.
    """

    def __init__(
        self,
        guard: OutboundGuard,
        *,
        make_transport: Callable[[], httpx.AsyncBaseTransport] | None = None,
        max_hosts: int = 256,
    ) -> None:
        self._guard = guard
        self._make_transport = make_transport or (lambda: httpx.AsyncHTTPTransport(retries=0))
        self._max_hosts = max_hosts
        self._transports: OrderedDict[str, httpx.AsyncBaseTransport] = OrderedDict()

    async def _transport_for(self, host: str) -> httpx.AsyncBaseTransport:
        transport = self._transports.get(host)
        if transport is not None:
            self._transports.move_to_end(host)
            return transport
        transport = self._make_transport()
        self._transports[host] = transport
        if len(self._transports) > self._max_hosts:
            _, oldest = self._transports.popitem(last=False)
            await oldest.aclose()
        return transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        try:
            addresses = await self._guard.resolve(host, _default_port(request.url))
        except ResolutionFailed as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        transport = await self._transport_for(host)
        extensions = dict(request.extensions)
        if request.url.scheme == "https":
            extensions["sni_hostname"] = host
        last_error: httpx.ConnectError | None = None
        for address in addresses:
            # The Host header was set from the original URL when the request was built.
            routed = httpx.Request(
                request.method,
                request.url.copy_with(host=str(address)),
                headers=request.headers,
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return await transport.handle_async_request(routed)
            except httpx.ConnectError as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    async def aclose(self) -> None:
        transports = list(self._transports.values())
        self._transports.clear()
        for transport in transports:
            await transport.aclose()


def outbound_client(settings: Settings, *, guard: OutboundGuard | None = None) -> httpx.AsyncClient:
    """Return the HTTP client webhook deliveries are sent with.

    It ignores proxy variables of the environment, because a proxy would make the
    connection instead of the guarded transport, and it follows no redirects.
    """
    return httpx.AsyncClient(
        transport=GuardedTransport(guard or guard_for(settings)),
        trust_env=False,
        follow_redirects=False,
    )
