"""The bridge's own share of a knob's delay (core/share): plain times in, figures out."""

from __future__ import annotations

from bridge.commands.status import render
from bridge.core.share import WireDelay, bridge_share


def test_the_oldest_unsent_input_counts() -> None:
    """Inputs before a send: the delay runs from the first of them to the send."""
    delay = WireDelay()
    delay.input(10.0)
    delay.input(10.03)
    delay.sent(10.05)
    assert delay.figures()["last_ms"] == 50.0
    delay.sent(10.2)  # a send with no input waiting (a glide frame) is not a sample
    assert delay.figures()["count"] == 1


def test_local_only_inputs_are_dropped() -> None:
    """A change that puts nothing on the wire (master volume) is not measured."""
    delay = WireDelay()
    delay.input(1.0)
    delay.idle()
    delay.sent(5.0)
    assert delay.figures() == {"count": 0, "last_ms": None, "median_ms": None, "p95_ms": None}


def test_median_and_p95_over_a_window() -> None:
    """The window keeps the last ``keep`` delays; p95 is by nearest rank."""
    delay = WireDelay(keep=20)
    for i in range(40):  # the first 20 (0..19 ms) fall out of the window
        delay.input(float(i))
        delay.sent(i + i / 1000)
    figures = delay.figures()
    assert figures["count"] == 20
    assert figures["median_ms"] == 29.0 and figures["p95_ms"] == 38.0
    assert figures["last_ms"] == 39.0


def test_share_is_wire_p95_plus_the_buffer() -> None:
    """The share adds the player's fill to the knob-to-wire p95; the status prints it."""
    delay = WireDelay()
    delay.input(0.0)
    delay.sent(0.02)
    share = bridge_share(delay.figures(), {"fill_seconds": 0.08, "target_seconds": 0.06})
    assert share["share_ms"] == 100.0 and share["buffer_ms"] == 80.0
    assert share["buffer_target_ms"] == 60.0
    text = render({"latency": share, "performance": {}})
    assert "bridge's share 100 ms" in text
    assert bridge_share(delay.figures(), {})["share_ms"] is None  # no player yet
