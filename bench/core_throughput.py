"""MIDI messages per CPU second through the daemon's own pure path on one core: raw bytes →
the one MIDI parser → Instrument (mapper, performance) → poll → effects (wire updates,
gain, feedback). Prints the median of several runs per scenario and the worst.

Target: ≥ 50,000 messages/s, so a storm of 14-bit fader messages costs nothing next to
the audio. Each scenario feeds raw MIDI bytes (as rtmidi delivers them) with an advancing
clock through ``bridge.core.drive.Driver``, which does what the daemon does for each
message: apply it, then poll the instrument once (the daemon wakes once per message when
they arrive one at a time, the worst case; under a storm it batches several per wake).

    python bench/core_throughput.py [--seconds 1.0] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator

from bridge.config import loads
from bridge.core.drive import Driver
from bridge.core.instrument import Instrument

TARGET = 50_000

PROFILE = (
    """
[controller]
name = "Bench"
port = "bench"
channel = 1
"""
    + "".join(f'[[slots]]\ntext = "prompt {n}"\nweight = 0.5\n' for n in range(1, 17))
    + "".join(
        f'[[bind]]\ncc14 = {n}\ntarget = "slot.{n + 1}.weight"\ntakeover = "immediate"\n'
        for n in range(8)
    )
    + "".join(
        f'[[bind]]\ncc = {n}\ntarget = "slot.{n - 39}.weight"\ntakeover = "immediate"\n'
        for n in range(48, 56)
    )
    + """
[[bind]]
cc = 70
target = "config.density"
encoding = "binary-offset"

[[bind]]
note = 36
target = "config.mute_bass"
"""
)


def fader_storm_14bit() -> Iterator[list[int]]:
    """Eight 14-bit faders sweeping at once: MSB then LSB, every value different."""
    v = 0
    while True:
        v = (v + 37) % 16384
        for n in range(8):
            yield [0xB0, n, (v >> 7) & 0x7F]
            yield [0xB0, n + 32, v & 0x7F]


def knob_storm_7bit() -> Iterator[list[int]]:
    v = 0
    while True:
        v = (v + 1) % 128
        for n in range(48, 56):
            yield [0xB0, n, v]


def encoder_and_buttons() -> Iterator[list[int]]:
    while True:
        yield [0xB0, 70, 65]
        yield [0xB0, 70, 63]
        yield [0x90, 36, 100]
        yield [0x80, 36, 0]


SCENARIOS: dict[str, Callable[[], Iterator[list[int]]]] = {
    "14-bit fader storm": fader_storm_14bit,
    "7-bit knob storm": knob_storm_7bit,
    "encoder + buttons": encoder_and_buttons,
}


def run(make: Callable[[], Iterator[list[int]]], seconds: float) -> float:
    """Messages per second for ``seconds`` of one scenario, bytes in, effects out."""
    driver = Driver(Instrument(loads(PROFILE, "bench")), port="Bench")
    driver.replay()
    source = make()
    batch = [bytes(next(source)) for _ in range(4096)]
    count = 0
    effects = 0
    # CPU time, not wall time: on a shared machine other processes' load would otherwise
    # be counted against the code (this loop is single-threaded and does no I/O).
    start = time.process_time()
    deadline = start + seconds
    while time.process_time() < deadline:
        for raw in batch:
            effects += len(driver.feed(raw, driver.now + 0.0005))
        count += len(batch)
    assert effects > 0, "the scenario produced no effects: it measures nothing"
    return count / (time.process_time() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per run")
    parser.add_argument("--runs", type=int, default=5, help="runs per scenario (median)")
    args = parser.parse_args()
    rates = []
    for name, make in SCENARIOS.items():
        rate = statistics.median(run(make, args.seconds) for _ in range(args.runs))
        rates.append(rate)
        print(f"core_throughput: {name:<20} {rate:>10,.0f} msg/s (median of {args.runs})")
    worst = min(rates)
    verdict = "ok" if worst >= TARGET else "BELOW TARGET"
    print(f"core_throughput: worst {worst:,.0f} msg/s, target {TARGET:,} msg/s: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
