"""The SSRF guard: which webhook URLs may be registered, and which addresses may be connected to.

Following OWASP's SSRF prevention cheat sheet: the URL is parsed strictly,
its host name resolved, and *every* address it resolves to checked against
the classes no webhook may reach (loopback, private, link-local, multicast,
reserved, shared CGNAT space, cloud metadata services, and any network the
operator adds); one refused address refuses the URL. The check runs at
registration and again before every attempt, and the attempt then connects to
an address this check passed (``webhooks.transport``), so a DNS answer that
changes between the check and the connection (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048

# Cloud metadata services and their neighbours: named for a clearer refusal,
# and listed because some (Azure's wire server) sit in public space.
METADATA_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "169.254.169.254/32",  # AWS, GCP, Azure, OpenStack... instance metadata
        "169.254.170.2/32",  # AWS ECS task metadata
        "169.254.170.23/32",  # AWS EKS pod identity
        "fd00:ec2::254/128",  # AWS instance metadata over IPv6
        "fd00:ec2::23/128",  # AWS EKS pod identity over IPv6
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "168.63.129.16/32",  # Azure wire server (a public address)
        "192.0.0.192/32",  # Oracle Cloud metadata
    )
)
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT
# Special-purpose blocks (IANA registries) that some Python versions still call
# global: named here so the refusal does not depend on the interpreter.
SPECIAL_PURPOSE_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "192.0.0.0/24",  # RFC 6890: IETF protocol assignments
        "198.18.0.0/15",  # RFC 2544: benchmarking
        "fec0::/10",  # RFC 3879: deprecated site-local
        "100::/64",  # RFC 6666: discard-only
        "2001:db8::/32",  # RFC 3849: documentation
    )
)
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: an IPv4 address inside


class UrlInvalid(ValueError):
    """The URL is not an absolute http(s) URL of the accepted shape; the message says why."""


class UrlRefused(Exception):
    """The URL is well formed but may not be called; ``rule`` says which rule refused it.

    ``https``: plain http where only https is allowed; ``host``: the host is not
    on WEBHOOK_ALLOWED_HOSTS; ``address``: the host does not resolve, or one of
    its addresses is in a refused class.
    """

    def __init__(self, reason: str, *, host: str, rule: str = "address") -> None:
        super().__init__(reason)
        self.reason = reason
        self.host = host
        self.rule = rule


@dataclass(frozen=True)
class Target:
    """A parsed webhook URL: where to connect and what to ask for."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...] = field(default=())


def url_parse(url: str) -> Target:
    """Parse a webhook URL strictly; raise UrlInvalid with the reason."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlInvalid(f"must be at most {MAX_URL_LENGTH} characters")
    if any(ord(character) <= 0x20 or ord(character) == 0x7F for character in url):
        raise UrlInvalid("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlInvalid(f"is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlInvalid("must be an absolute https URL")
    if parts.username is not None or parts.password is not None:
        raise UrlInvalid("must not contain a user name or password")
    if parts.fragment or url.endswith("#"):
        raise UrlInvalid("must not have a fragment")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UrlInvalid("must name a host")
    if "%" in host:
        raise UrlInvalid("must not name an IPv6 zone")
    if port == 0:
        raise UrlInvalid("must not name port 0")
    if not is_ip_literal(host):
        try:
            host.encode("idna")
        except UnicodeError:
            raise UrlInvalid("has a host name that is not valid") from None
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(
        scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80), path=path
    )


def url_check(url: str) -> Target:
    """Parse, apply the scheme and host rules, resolve and check every address; the checked Target.

    Raises UrlInvalid for a malformed URL and UrlRefused for one that may not be called.
    """
    target = url_parse(url)
    allow_loopback = bool(settings.WEBHOOK_ALLOW_HTTP_LOOPBACK)
    if target.scheme == "http" and not allow_loopback:
        # Refused before any DNS lookup: nothing about the host is needed to say no.
        raise UrlRefused("must use https", rule="https", host=target.host)
    if not host_allowed(target.host):
        raise UrlRefused(
            "its host is not among the allowed webhook hosts", rule="host", host=target.host
        )
    addresses = resolve(target.host, target.port)
    for address in addresses:
        reason = address_refusal(address, allow_loopback=allow_loopback)
        if reason is not None:
            raise UrlRefused(f"its host resolves to a {reason} address", host=target.host)
    if target.scheme == "http" and not (
        addresses and all(_is_loopback(address) for address in addresses)
    ):
        # Plain http is for a receiver on this machine only; anything else needs https.
        raise UrlRefused(
            "must use https (http only to this machine)", rule="https", host=target.host
        )
    if not addresses:
        raise UrlRefused("its host does not resolve", host=target.host)
    return Target(
        scheme=target.scheme,
        host=target.host,
        port=target.port,
        path=target.path,
        addresses=tuple(addresses),
    )


def host_allowed(host: str) -> bool:
    """True when no allowlist is set, or the host is on it (``.example.com`` allows its subdomains)."""
    allowed = [entry.strip().lower().rstrip(".") for entry in settings.WEBHOOK_ALLOWED_HOSTS]
    allowed = [entry for entry in allowed if entry]
    if not allowed:
        return True
    host = host.lower()
    return any(
        host.endswith(entry) if entry.startswith(".") else host == entry for entry in allowed
    )


def resolve(host: str, port: int) -> list[str]:
    """Every address the host name resolves to, in the resolver's order; empty if none.

    A numeric host is read as the C library reads it, so ``2130706433``,
    ``0x7f000001``, ``0177.0.0.1`` and ``127.1`` all come back as ``127.0.0.1``
    and are judged as such.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0]).split("%", 1)[0]
        if address not in addresses:
            addresses.append(address)
    return addresses


def address_refusal(address: str, *, allow_loopback: bool = False) -> str | None:
    """Why no webhook may connect to this address ("private", "loopback"...), or None if it may."""
    try:
        ip: IPAddress = ipaddress.ip_address(address)
    except ValueError:
        return "malformed"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return address_refusal(str(embedded), allow_loopback=allow_loopback)
        if ip.teredo is not None:
            return "Teredo tunnel"
    if any(ip in network for network in METADATA_NETWORKS):
        return "cloud metadata"
    for network in _denied_networks():
        if ip.version == network.version and ip in network:
            return "denied"
    if ip.is_loopback:
        return None if allow_loopback else "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv4Address) and ip in SHARED_ADDRESS_SPACE:
        return "shared (CGNAT)"
    if ip.is_private or getattr(ip, "is_site_local", False):
        return "private"
    if any(ip.version == network.version and ip in network for network in SPECIAL_PURPOSE_NETWORKS):
        return "reserved"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "non-public"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped ``::ffff:a.b.c.d``, 6to4, NAT64), judged as such."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def is_ip_literal(host: str) -> bool:
    """True for a host written as an IP address rather than a name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _denied_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [
        ipaddress.ip_network(network.strip(), strict=False)
        for network in settings.WEBHOOK_DENIED_NETWORKS
        if network.strip()
    ]
