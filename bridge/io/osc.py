"""The OSC server: UDP in (controls) and out (feedback, error replies). Network I/O.

The only importer of python-osc. It uses python-osc's codec (``OscPacket`` to decode,
``OscMessageBuilder`` to encode) under a datagram protocol of its own, which sidesteps
two traps of python-osc's ``AsyncIOOSCUDPServer``: its dispatcher sleeps on the loop for
bundles timestamped in the future (``strict_timing``), and an exception in a handler
escapes into the loop. Here a bundle's messages apply at once (timetags are ignored), a
datagram that does not decode is answered with ``/error``, and every handler runs inside
a ``try``. What an address means is ``bridge.core.oscmap``'s (pure); this module only
moves datagrams, like the status server moves websocket frames.

* In: every message is parsed by ``oscmap.parse`` and its Changes go to ``control``
  (``Daemon.apply``, the entry every input uses). A refusal, an unknown address or an
  ill-typed value is answered with ``/error "why"`` to the sender; a clamped value with
  ``/notice "what was set"``. Replies are rate limited per sender (``oscmap.Budget``).
* Out: ``notify()`` (the state changed) wakes the push loop, which renders the snapshot's
  feedback (``oscmap.feedback``) and sends each listener only what differs from what it
  has (``oscmap.Listener``: no echo of its own moves), at most every ``push_interval``.
  Listeners are the rig's ``osc_clients`` and surfaces that sent ``/register``. A
  surface's own addresses bound in the mapping's ``[osc]`` (``bindings``) work both ways.
* Security: binds to 127.0.0.1 unless told otherwise; any other address needs an
  allow-list (``osc_allow``: addresses or networks), and datagrams from a host neither on
  loopback nor allowed are dropped unanswered (no reflection). ``/register`` registers
  the sender's own host only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from bridge.aio import cancelled
from bridge.core import oscmap
from bridge.core.instrument import Outcome
from bridge.core.types import Change
from bridge.errors import BridgeError, ConfigError
from bridge.status.server import is_loopback, parse_address

log = logging.getLogger("bridge.osc")

DEFAULT_PORT = 9000
MAX_LISTENERS = 16  # TouchOSC allows 10 connections; a few more for editors and tests

Snapshot = Callable[[], dict[str, Any]]
Control = Callable[[Change], Outcome]


def parse_allow(entries: Sequence[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """``osc_allow`` entries (``192.168.1.20``, ``192.168.1.0/24``) as networks."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ConfigError(
                f"osc_allow: {entry!r} is not an address or network (e.g. 192.168.1.0/24)"
            ) from None
    return networks


def rig_problems(
    address: str, allow: Sequence[str], clients: Sequence[str]
) -> list[tuple[str, str]]:
    """(rig key, why) for OSC settings the server would refuse: checked by ``run`` before
    anything starts and by ``check`` on a rig file."""
    problems: list[tuple[str, str]] = []
    try:
        host, _ = parse_address(address)
        if not is_loopback(host) and not allow:
            why = f"listening on {host} needs osc_allow (hosts or networks), or use 127.0.0.1"
            problems.append(("osc", why))
    except ValueError as exc:
        problems.append(("osc", str(exc).replace("status address", "address")))
    try:
        parse_allow(allow)
    except ConfigError as exc:
        problems.append(("osc_allow", str(exc).removeprefix("osc_allow: ")))
    for client in clients:
        try:
            parse_address(client)
        except ValueError as exc:
            problems.append(("osc_clients", str(exc).replace("status address", "address")))
    return problems


def encode(address: str, args: Sequence[Any]) -> bytes:
    """One OSC message as a datagram (None → nil, bool → T/F, as python-osc infers)."""
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


class OscReader:
    """A blocking OSC listener for ``learn --osc``: ``poll(timeout)`` → (address, args).
    It only records addresses for a file (nothing is applied), so any address may be used:
    a phone on the LAN needs the machine's LAN address."""

    def __init__(self, host: str, port: int) -> None:
        import socket

        self.sock = socket.socket(
            socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM
        )
        try:
            self.sock.bind((host, port))
        except OSError as exc:
            self.sock.close()
            raise BridgeError(f"osc: cannot listen on {host}:{port}: {exc.strerror}") from None
        self.port = int(self.sock.getsockname()[1])

    def poll(self, timeout: float) -> list[tuple[str, list[Any]]]:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return []
        try:
            return [(m.message.address, list(m.message.params)) for m in OscPacket(data).messages]
        except Exception:  # not OSC: nothing learned from it
            return []

    def close(self) -> None:
        self.sock.close()


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, server: OscServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.server.received(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.debug("osc: %s", exc)  # e.g. ICMP port unreachable from a closed listener


class OscServer:
    """OSC in and out on one UDP port. See the module docstring."""

    def __init__(
        self,
        host: str,
        port: int,
        snapshot: Snapshot,
        control: Control,
        *,
        allow: Sequence[str] = (),
        clients: Sequence[str] = (),
        bindings: Callable[[], Sequence[oscmap.OscBinding]] = tuple,
        push_interval: float = 0.05,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.snapshot = snapshot
        self.control = control
        self.allow = parse_allow(allow)
        self.bindings = bindings  # the mapping's [osc] table (it may be reloaded)
        self.push_interval = push_interval
        self.listeners: dict[tuple[str, int], oscmap.Listener] = {}
        for text in clients:
            client_host, client_port = parse_address(text)
            self.listeners[(client_host, client_port)] = oscmap.Listener(client_host, client_port)
        self.counters = {"messages": 0, "changes": 0, "errors": 0, "dropped": 0}
        self._budgets: dict[str, oscmap.Budget] = {}
        self._transport: asyncio.DatagramTransport | None = None
        self._pusher: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    # --- life cycle ------------------------------------------------------------------
    async def start(self) -> None:
        """Listen. Refuses (ConfigError) a non-loopback address without an allow-list."""
        if not is_loopback(self.host) and not self.allow:
            raise ConfigError(
                f"osc: listening on {self.host} needs an allow-list (osc_allow = "
                '["192.168.1.0/24"] or --osc-allow); without one it only binds to 127.0.0.1'
            )
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Protocol(self), local_addr=(self.host, self.requested_port)
            )
        except OSError as exc:
            where = f"{self.host}:{self.requested_port}"
            raise BridgeError(f"osc: cannot listen on {where}: {exc.strerror}") from None
        self._transport = transport
        self._pusher = asyncio.create_task(self._push_loop(), name="osc-push")
        self._changed.set()  # the rig's clients get the whole state at once
        log.info("OSC on udp://%s:%d", self.host, self.port)

    async def close(self) -> None:
        await cancelled(self._pusher)
        self._pusher = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        if self._transport is None:
            return self.requested_port
        return int(self._transport.get_extra_info("sockname")[1])

    def notify(self) -> None:
        """The state changed: push feedback soon (at most every ``push_interval``)."""
        self._changed.set()

    def stats(self) -> dict[str, Any]:
        """What the status shows: the address, who gets feedback, the counts."""
        return {
            "address": f"udp://{self.host}:{self.port}",
            "listeners": [f"{host}:{port}" for host, port in self.listeners],
            **self.counters,
        }

    # --- in --------------------------------------------------------------------------
    def received(self, data: bytes, sender: tuple[str, int]) -> None:
        """One datagram from ``sender`` (called on the loop by the protocol)."""
        if not self._allowed(sender[0]):
            self.counters["dropped"] += 1
            return
        try:
            messages = [(m.message.address, m.message.params) for m in OscPacket(data).messages]
        except Exception:  # python-osc raises several types on garbage: all mean "not OSC"
            self._reply(sender, "/error", "not an OSC packet")
            return
        for address, params in messages:
            try:
                self._message(address, list(params), sender)
            except Exception:  # a bug must not silence the surface: say it, keep serving
                log.exception("osc: %s failed", address)
                self._reply(sender, "/error", f"{address}: failed (see the daemon's log)")

    def _allowed(self, host: str) -> bool:
        if is_loopback(host):
            return True
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(ip in network for network in self.allow)

    def _message(self, address: str, args: list[Any], sender: tuple[str, int]) -> None:
        self.counters["messages"] += 1
        parsed = oscmap.parse(address, args, {b.address: b for b in self.bindings()})
        if isinstance(parsed, oscmap.BadMessage):
            self._reply(sender, "/error", parsed.reason)
        elif isinstance(parsed, oscmap.Register | oscmap.Unregister | oscmap.Sync):
            self._session(parsed, sender)
        elif isinstance(parsed, list):
            self._heard(address, args, sender[0])
            for change in parsed:
                self._apply(change, sender)
        else:
            self._heard(address, args, sender[0])  # a release: the surface shows it

    def _apply(self, change: Change, sender: tuple[str, int]) -> None:
        self.counters["changes"] += 1
        outcome = self.control(change)
        if outcome.refused is not None:
            self._reply(sender, "/error", f"{change.target}: {outcome.refused}")
        elif outcome.note is not None:
            self._reply(sender, "/notice", outcome.note)

    def _heard(self, address: str, args: list[Any], host: str) -> None:
        for listener in self.listeners.values():
            if listener.host == host:
                listener.heard(address, args)

    def _session(self, message: Any, sender: tuple[str, int]) -> None:
        host = sender[0]
        if isinstance(message, oscmap.Sync):
            for listener in self.listeners.values():
                if listener.host == host:
                    listener.sent.clear()  # everything again
            self._changed.set()
            return
        key = (host, message.port or sender[1])  # only the sender's own host: no reflection
        if isinstance(message, oscmap.Unregister):
            self.listeners.pop(key, None)
            return
        if key not in self.listeners and len(self.listeners) >= MAX_LISTENERS:
            self._reply(sender, "/error", f"too many listeners (at most {MAX_LISTENERS})")
            return
        self.listeners[key] = oscmap.Listener(*key)  # new, or fresh: everything again
        self._send(key, "/registered", [key[1]])
        self._changed.set()

    def _reply(self, sender: tuple[str, int], address: str, text: str) -> None:
        self.counters["errors"] += address == "/error"
        budget = self._budgets.setdefault(sender[0], oscmap.Budget())
        if len(self._budgets) > 256:
            self._budgets = {sender[0]: budget}  # a spoofed-source flood must not grow this
        if budget.take(time.monotonic()):
            self._send(sender, address, [text])

    def _send(self, to: tuple[str, int], address: str, args: Sequence[Any]) -> None:
        if self._transport is not None:
            with contextlib.suppress(OSError):
                self._transport.sendto(encode(address, args), to)

    # --- out -------------------------------------------------------------------------
    async def _push_loop(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            if self.listeners:
                self._push()
            await asyncio.sleep(self.push_interval)  # the rate limit

    def _push(self) -> None:
        try:
            values = oscmap.feedback(self.snapshot().get("performance", {}))
            values.update(oscmap.bound_feedback(values, self.bindings()))
        except Exception:
            log.exception("osc: feedback failed")
            return
        for key, listener in list(self.listeners.items()):
            for address, args in listener.due(values):
                self._send(key, address, args)
