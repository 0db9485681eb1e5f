"""Who a socket comes from, and how much one address and one room may ask of the relay.

A class sits behind one address (a school's NAT, or the proxy of ``deploy/``), so a cap per
address must fit a class; and a classmate opens fresh sockets as fast as a loop runs, so a
limit per connection alone limits nobody. Here:

- ``client_address``: the peer's address, or, when the peer is a trusted proxy (``--trusted-
  proxy``; none by default), the address it names in ``X-Forwarded-For``;
- ``Admission``: the Engine.IO sessions of each address (at most ``max_sockets``), and among
  them those that never joined a room (at most ``max_idle`` per address, the oldest closed
  first; each closed after ``join_timeout`` seconds; loopback, like the other caps, only
  with ``exempt_loopback`` off); a join bucket per address; and a churn
  bucket per room, which every leave (however it happens) draws on and joins wait for when
  it is empty. Filling a room costs it nothing; what floods a room's members with roster
  updates is members leaving and joining again, and that is what the room's bucket bounds.

Pure bookkeeping: the server supplies the clock and closes what it is told to close.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from relay.policy import TokenBucket

if TYPE_CHECKING:
    from relay.config import Config

MAX_BUCKETS = 4096           # addresses (or rooms) with a bucket, before full ones are pruned
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``10.0.0.5``, ``172.16.0.0/12``, ``::1``: the networks of trusted proxies."""
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        addr = ipaddress.ip_address(text.strip().strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    mapped = getattr(addr, "ipv4_mapped", None)
    return mapped or addr


def is_loopback(ip: str) -> bool:
    addr = _address(ip)
    return addr is not None and addr.is_loopback


def in_networks(ip: str, networks: tuple[IPNetwork, ...]) -> bool:
    addr = _address(ip)
    return addr is not None and any(addr in net for net in networks)


def client_address(peer: str, forwarded_for: str | None,
                   trusted: tuple[IPNetwork, ...]) -> str:
    """The client's address: ``peer``, unless ``peer`` is a trusted proxy; then the right-most
    address of ``X-Forwarded-For`` that is not itself a trusted proxy (what a client writes
    into the header itself lies to the left of what the proxies appended)."""
    if not trusted or not forwarded_for or not in_networks(peer, trusted):
        return peer
    for part in reversed(forwarded_for[:2048].split(",")):
        addr = _address(part)
        if addr is None:
            return peer           # a malformed hop: trust nothing further left
        if not any(addr in net for net in trusted):
            return str(addr)
    return peer


def _prune(buckets: dict[str, TokenBucket], now: float) -> None:
    """Forget buckets that have refilled (they would start full anyway)."""
    if len(buckets) < MAX_BUCKETS:
        return
    for key in [k for k, b in buckets.items()
                if b.full(now)]:
        del buckets[key]


class Admission:
    """Sessions per address, the never-joined ones among them, and joins per address/room."""

    def __init__(self, *, max_sockets: int, max_idle: int, join_timeout: float,
                 address_rate: float, address_burst: int, room_rate: float, room_burst: int,
                 exempt_loopback: bool = True):
        self.max_sockets = max_sockets
        self.max_idle = max_idle
        self.join_timeout = join_timeout
        self.address_rate, self.address_burst = address_rate, address_burst
        self.room_rate, self.room_burst = room_rate, room_burst
        self.exempt_loopback = exempt_loopback
        self.sockets: dict[str, int] = {}                       # address -> open sessions
        self.address_of: dict[str, str] = {}                    # eio sid -> address
        self.idle: dict[str, OrderedDict[str, float]] = {}      # address -> eio sid -> since
        self.by_address: dict[str, TokenBucket] = {}
        self.by_room: dict[str, TokenBucket] = {}

    @classmethod
    def from_config(cls, config: Config) -> Admission:
        return cls(max_sockets=config.max_connections_per_ip, max_idle=config.max_idle_per_ip,
                   join_timeout=config.join_timeout, address_rate=config.address_join_rate,
                   address_burst=config.address_join_burst, room_rate=config.room_churn_rate,
                   room_burst=config.room_churn_burst, exempt_loopback=not config.cap_loopback)

    # --- sessions ---------------------------------------------------------------------------
    def admit(self, eio_sid: str, address: str, now: float | None = None
              ) -> tuple[bool, list[str]]:
        """May a new session from ``address`` open? And the idle sessions to close for it
        (the oldest never-joined ones of that address, over ``max_idle``)."""
        now = time.monotonic() if now is None else now
        capped = not (self.exempt_loopback and is_loopback(address))
        if capped and self.sockets.get(address, 0) >= self.max_sockets:
            return False, []
        self.sockets[address] = self.sockets.get(address, 0) + 1
        self.address_of[eio_sid] = address
        if not capped:
            return True, []   # this machine's own clients (a notebook's kernel, tests)
        idle = self.idle.setdefault(address, OrderedDict())
        idle[eio_sid] = now
        evict = []
        while len(idle) > self.max_idle:
            sid, _ = idle.popitem(last=False)
            evict.append(sid)
        return True, evict

    def joined(self, eio_sid: str) -> None:
        """The session joined a room: no longer idle (for good: a leave keeps it open)."""
        address = self.address_of.get(eio_sid)
        idle = self.idle.get(address) if address is not None else None
        if idle is not None and idle.pop(eio_sid, None) is not None and not idle:
            del self.idle[address]

    def gone(self, eio_sid: str) -> None:
        self.joined(eio_sid)   # out of the idle ones first: that looks the address up
        address = self.address_of.pop(eio_sid, None)
        if address is None:
            return
        n = self.sockets.pop(address, 1) - 1
        if n > 0:
            self.sockets[address] = n

    def expired(self, now: float | None = None) -> list[str]:
        """Sessions that have not joined within ``join_timeout``: the server closes them."""
        now = time.monotonic() if now is None else now
        out = []
        for idle in self.idle.values():
            for sid, since in idle.items():   # oldest first
                if now - since < self.join_timeout:
                    break
                out.append(sid)
        return out

    def idle_count(self) -> int:
        return sum(len(v) for v in self.idle.values())

    # --- joins ------------------------------------------------------------------------------
    def take_join(self, address: str, room: str, now: float | None = None) -> str | None:
        """A join from ``address`` into ``room``: why not, or None (and the address's bucket
        is charged). Loopback addresses are not limited unless ``exempt_loopback`` is off."""
        now = time.monotonic() if now is None else now
        by_room = self.by_room.get(room)
        if by_room is not None and not by_room.has(now):
            return (f"rate limit: members leave and join room {room!r} too fast; "
                    "try again in a few seconds")
        if self.exempt_loopback and is_loopback(address):
            return None
        by_address = self.by_address.get(address)
        if by_address is None:
            _prune(self.by_address, now)
            by_address = self.by_address[address] = TokenBucket(
                self.address_rate, self.address_burst, now)
        if not by_address.take(now):
            return "rate limit: too many joins from your address; try again in a moment"
        return None

    def left(self, room: str, now: float | None = None) -> None:
        """A member left ``room`` (a leave, a disconnect, an eviction): charge its bucket."""
        now = time.monotonic() if now is None else now
        by_room = self.by_room.get(room)
        if by_room is None:
            _prune(self.by_room, now)
            by_room = self.by_room[room] = TokenBucket(self.room_rate, self.room_burst, now)
        by_room.charge(now)
