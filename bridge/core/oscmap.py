"""OSC addresses ↔ mapping targets, feedback values and listeners' echo rules. Pure, no I/O.

Theory of operation
-------------------
**Addresses are targets with slashes.** Every mapping target (``bridge.core.targets``, the
one grammar) is an address: ``slot.3.weight`` ↔ ``/slot/3/weight``, ``config.bpm`` ↔
``/config/bpm``, ``space.x`` ↔ ``/space/x``, ``scene.recall`` ↔ ``/scene/recall``. So
``parse(address, args)`` turns an incoming message into what the daemon does with it:

1. ``/TARGET value``: one Change (``/slot/3/weight 0.5``, ``/playback play``,
   ``/scene/recall 2``). The value is checked where every other input's is (the
   Performance): a refusal goes back to the sender as ``/error "target: why"``.
2. ``/TARGET/VALUE [1]``: a *button* (TouchOSC and Open Stage Control buttons send 1 on
   press and 0 on release): ``/playback/play``, ``/scene/recall/2``, ``/record/toggle``,
   ``/config/scale/D_MAJOR_B_MINOR``. A press (no argument, or a non-zero one) is the
   Change ``TARGET = VALUE``; a release is ignored.
3. ``/space/xy x y`` and ``/space/xyz x y z``: an X/Y pad's two (three) floats at once.
4. ``/tap_tempo`` takes any argument or none.
5. A surface's own addresses (TouchOSC's ``/1/fader1``), bound in a mapping file's
   ``[osc]`` table (``OscBinding``, written by ``learn --osc``): a number 0..1 is scaled
   into the binding's range; a button binding sends its value on press.
6. Session messages: ``/register [port]`` (send me feedback, on ``port`` or the port I
   sent from), ``/unregister [port]``, ``/sync`` (send me everything again).

Anything else is a ``BadMessage`` with a one-line reason (unknown address, a blob, two
values where one is taken): the sender gets it as ``/error``; nothing raises.

**Feedback.** ``feedback(perf)`` renders a Performance snapshot as address → arguments for
every address a surface may show: each target's value (bools as 1.0/0.0, auto as
``"auto"``), ``/slot/N/effective`` (the weight sent, for meters), ``/space/xy``, and lamps
for buttons (``/playback/play 1.0`` while playing, ``/scene/recall/2 1.0`` while scene 2
is the current one); bound addresses get their target's value scaled back to 0..1.

**No echo loops.** A ``Listener`` (one registered surface) remembers what it was last sent
per address and is sent only what differs. What a surface itself sends is recorded as
"sent" to it (``heard``), so its own move never comes back (a fader mid-drag would jump
back to where it was a moment ago); a clamped or refused value does differ, so the
surface is corrected. Floats compare with a tolerance: OSC carries float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.core.targets import parse_target
from bridge.core.types import Change, ChangeValue

Args = tuple[Any, ...]
ACTION_TARGETS = ("playback", "record", "scene.recall", "scene.store", "bank")
PADS = {"space/xy": ("space.x", "space.y"), "space/xyz": ("space.x", "space.y", "space.z")}
TOLERANCE = 1e-5  # float32 carries ~7 digits


@dataclass(frozen=True, slots=True)
class Register:
    """Send this surface feedback on ``port`` (None: the port it sent from)."""

    port: int | None = None


@dataclass(frozen=True, slots=True)
class Unregister:
    port: int | None = None


@dataclass(frozen=True, slots=True)
class Sync:
    """Send this surface every value again."""


@dataclass(frozen=True, slots=True)
class Ignore:
    """Nothing to do (a button's release)."""


@dataclass(frozen=True, slots=True)
class BadMessage:
    """An address or arguments the bridge cannot use, and why (sent back as /error)."""

    reason: str


@dataclass(frozen=True, slots=True)
class OscBinding:
    """A surface's address bound to a target: numbers 0..1 scaled into ``lo..hi`` (when
    ``scale``), or a button that sends ``value`` on press (when ``value`` is not None)."""

    address: str
    target: str
    lo: float = 0.0
    hi: float = 1.0
    scale: bool = False
    value: ChangeValue = None


Parsed = list[Change] | Register | Unregister | Sync | Ignore | BadMessage
SOURCE = "osc"
HELP = "addresses are targets with slashes: /slot/1/weight, /config/bpm, /space/x, /playback"


def address_of(target: str) -> str:
    """The OSC address of a target (``slot.3.weight`` → ``/slot/3/weight``)."""
    return "/" + target.replace(".", "/")


def parse(address: str, args: Sequence[Any], bound: dict[str, OscBinding] | None = None) -> Parsed:
    """One incoming message → Changes, a session message, Ignore or a BadMessage."""
    if bound and address in bound:
        return _bound(bound[address], args)
    path = address.strip("/")
    if not address.startswith("/") or not path or "//" in address:
        return BadMessage(f"bad address {address!r} ({HELP})")
    bad = next((a for a in args if not _is_value(a)), None)
    if bad is not None:
        return BadMessage(f"{address}: arguments must be numbers, strings, booleans or nil")
    session = _session(path, args)
    if session is not None:
        return session
    if path in PADS:
        return _pad(address, PADS[path], args)
    target = path.replace("/", ".")
    if not isinstance(parse_target(target), str):
        return _value(address, target, args)
    head, _, last = target.rpartition(".")
    if head and not isinstance(parse_target(head), str):
        return _press(head, last, args)
    return BadMessage(f"unknown address {address} ({HELP})")


def _is_value(arg: Any) -> bool:
    return arg is None or isinstance(arg, int | float | str | bool)


def _session(path: str, args: Sequence[Any]) -> Parsed | None:
    if path not in ("register", "unregister", "sync"):
        return None
    if path == "sync":
        return Sync()
    port = args[0] if args else None
    if port is not None and not (isinstance(port, int) and not isinstance(port, bool)):
        return BadMessage(f"/{path} takes a port number (or nothing: the port you send from)")
    if port is not None and not 1 <= port <= 65535:
        return BadMessage(f"/{path}: port must be in 1..65535")
    return Register(port) if path == "register" else Unregister(port)


def _pad(address: str, targets: tuple[str, ...], args: Sequence[Any]) -> Parsed:
    if len(args) != len(targets):
        return BadMessage(f"{address} takes {len(targets)} numbers (got {len(args)} arguments)")
    return [Change(t, v, source=SOURCE) for t, v in zip(targets, args, strict=True)]


def _value(address: str, target: str, args: Sequence[Any]) -> Parsed:
    if target == "tap_tempo":
        return [Change(target, True, source=SOURCE)]
    if len(args) != 1:
        return BadMessage(f"{address} takes one value (got {len(args)} arguments)")
    return [Change(target, args[0], source=SOURCE)]


def _press(target: str, word: str, args: Sequence[Any]) -> Parsed:
    if len(args) > 1:
        return BadMessage(f"/{target.replace('.', '/')}/{word}: a button sends one value")
    if args and (args[0] in (0, False, None) or args[0] == 0.0):
        return Ignore()  # the release
    return [Change(target, _word_value(word), source=SOURCE)]


def _bound(b: OscBinding, args: Sequence[Any]) -> Parsed:
    if b.value is not None:
        if len(args) > 1 or not all(_is_value(a) for a in args):
            return BadMessage(f"{b.address}: a button sends one value")
        if args and (args[0] in (0, False, None) or args[0] == 0.0):
            return Ignore()
        return [Change(b.target, b.value, source=SOURCE)]
    if len(args) != 1 or not _is_value(args[0]):
        return BadMessage(f"{b.address} takes one value (got {len(args)} arguments)")
    value = args[0]
    if b.scale and isinstance(value, int | float) and not isinstance(value, bool):
        value = b.lo + min(1.0, max(0.0, float(value))) * (b.hi - b.lo)
    return [Change(b.target, value, source=SOURCE)]


def bound_feedback(values: dict[str, Args], bindings: Sequence[OscBinding]) -> dict[str, Args]:
    """What the surfaces' own addresses show: their target's value back in 0..1, or a
    button's lamp (the value's own lamp address, e.g. /playback/play)."""
    out: dict[str, Args] = {}
    for b in bindings:
        native = values.get(address_of(b.target))
        if b.value is not None:
            lamp = values.get(f"{address_of(b.target)}/{b.value}")
            if lamp is not None:
                out[b.address] = lamp
        elif native and b.scale and isinstance(native[0], float) and b.hi != b.lo:
            out[b.address] = ((native[0] - b.lo) / (b.hi - b.lo),)
        elif native:
            out[b.address] = native
    return out


def _word_value(word: str) -> ChangeValue:
    """A value written in an address (``/scene/recall/2``): a number when it is one."""
    if word.lstrip("+-").isdecimal():
        return int(word)
    try:
        return float(word)
    except ValueError:
        return word


# --- feedback ----------------------------------------------------------------------------
def feedback(perf: dict[str, Any]) -> dict[str, Args]:
    """Every address a surface may show, with its arguments, from a Performance snapshot."""
    out: dict[str, Args] = {}
    for slot in perf.get("slots", ()):
        n = slot["slot"]
        out[f"/slot/{n}/weight"] = (float(slot["weight"]),)
        out[f"/slot/{n}/effective"] = (float(slot["effective"]),)
        out[f"/slot/{n}/text"] = (slot["text"],)
    for name, value in perf.get("config", {}).items():
        out[f"/config/{name}"] = (_shown(value),)
    for name in ("crossfader", "master_volume", "bank"):
        if name in perf:
            out[f"/{name}"] = (_shown(perf[name]),)
    _lamps(perf, out)
    space = perf.get("space")
    if space:
        position = [float(v) for v in space["position"]]
        for axis, value in zip(space["axes"], position, strict=True):
            out[f"/space/{axis}"] = (value,)
        out["/space/xy" if len(position) == 2 else "/space/xyz"] = tuple(position)
    return out


def _lamps(perf: dict[str, Any], out: dict[str, Args]) -> None:
    state = perf.get("playback", "stopped")
    out["/playback"] = (state,)
    for action, lit in (("play", "playing"), ("pause", "paused"), ("stop", "stopped")):
        out[f"/playback/{action}"] = (1.0 if state == lit else 0.0,)
    out["/record"] = out["/record/toggle"] = (1.0 if perf.get("recording") else 0.0,)
    scene = perf.get("scene")
    out["/scene/recall"] = (scene if scene is not None else "",)
    for index, name in enumerate(perf.get("scenes", ()), start=1):
        out[f"/scene/recall/{index}"] = (1.0 if name == scene else 0.0,)


def _shown(value: Any) -> Any:
    if value is None:
        return "auto"
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    return float(value) if isinstance(value, int | float) else value


def same(a: Args, b: Args) -> bool:
    """Equal arguments, floats within float32's precision."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if isinstance(x, int | float) and isinstance(y, int | float):
            if abs(float(x) - float(y)) > TOLERANCE * max(1.0, abs(float(y))):
                return False
        elif x != y:
            return False
    return True


@dataclass
class Listener:
    """One surface that gets feedback: what it was sent (or sent itself), per address."""

    host: str
    port: int
    sent: dict[str, Args] = field(default_factory=dict)

    def heard(self, address: str, args: Sequence[Any]) -> None:
        """The surface set ``address`` itself: do not echo that value back to it."""
        self.sent[address] = tuple(_shown(a) if isinstance(a, bool) else a for a in args)

    def due(self, values: dict[str, Args]) -> list[tuple[str, Args]]:
        """The messages this surface needs to show ``values`` (only what changed)."""
        out = []
        for address, args in values.items():
            old = self.sent.get(address)
            if old is None or not same(args, old):
                self.sent[address] = args
                out.append((address, args))
        return out


@dataclass
class Budget:
    """At most ``rate`` replies a second, in bursts of ``burst`` (a token bucket), so a
    flood of bad messages cannot turn the bridge into a flood of error replies."""

    rate: float = 20.0
    burst: float = 20.0
    tokens: float = 20.0
    last: float = 0.0
    dropped: int = 0

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        self.dropped += 1
        return False
