"""Which addresses deliveries may reach (the SSRF guard's rules, no I/O)."""

import ipaddress
import socket

from .conf import app_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def literal_address(host: str) -> IPAddress | None:
    """The address a host spelled as an IP literal means, in any spelling.

    Covers dotted quads, IPv6 (bracketed or not), and the decimal, hex and octal
    forms that inet_aton accepts (``2130706433``, ``0x7f.1``, ``017700000001``),
    with or without a trailing dot (``127.0.0.1.`` resolves like ``127.0.0.1``).
    Returns None for a name.
    """
    host = host.strip("[]")
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def _unmapped(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address embeds (IPv4-mapped, 6to4, NAT64), else the address.

    What is blocked is judged by the embedded address: 6to4 or NAT64 of a private
    address reaches that address through a relay. Only for blocking: which of these
    an allow entry opens is address_allowed's rule.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return address.ipv4_mapped
        if address.sixtofour:
            return address.sixtofour
        if address in ipaddress.ip_network("64:ff9b::/96"):  # NAT64
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def is_public(address: IPAddress) -> bool:
    """True for a globally routable unicast address."""
    address = _unmapped(address)
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
        or (address.version == 6 and address.is_site_local)  # fec0::/10, deprecated but private
    )


def allowed_rules() -> tuple[set[str], list]:
    """ALLOWED_DESTINATIONS split into host names and networks."""
    names, networks = set(), []
    for entry in app_settings.ALLOWED_DESTINATIONS or ():
        entry = str(entry).strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            names.add(entry.lower())
    return names, networks


def address_allowed(address: IPAddress, networks=None) -> bool:
    """True for a public address, or one inside an ALLOWED_DESTINATIONS network.

    An IPv4 entry also opens the IPv4-mapped spelling of its addresses
    (``::ffff:127.0.0.1``): a dual-stack socket connects to the IPv4 address itself.
    It never opens the 6to4, NAT64, Teredo or IPv4-compatible forms
    (``2002:7f00:1::``, ``64:ff9b::7f00:1``): those are other hosts, a relay or a
    translator that forwards to the embedded address, so allowing ``127.0.0.1``
    must not make them reachable. An IPv6 entry for their prefix still can.
    """
    if networks is None:
        networks = allowed_rules()[1]
    if is_public(address):
        return True
    candidates = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        candidates.append(address.ipv4_mapped)
    return any(a.version == n.version and a in n for a in candidates for n in networks)


def host_allowed_by_name(host: str) -> bool:
    return host.lower().rstrip(".") in allowed_rules()[0]


def literal_host_problem(host: str) -> str | None:
    """Why a URL host written as an address is refused, or None."""
    if host_allowed_by_name(host):
        return None
    address = literal_address(host)
    if address is None:
        if host.lower().rstrip(".") in ("localhost",) or host.lower().endswith(".localhost"):
            return f"{host} is a loopback name; deliveries may not reach it."
        return None
    if not address_allowed(address):
        return (
            f"{host} is a private, loopback or reserved address; deliveries may not reach "
            "it unless it is listed in WEBHOOKS['ALLOWED_DESTINATIONS']."
        )
    return None
