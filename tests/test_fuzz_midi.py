"""Random bytes as MIDI, through the whole pure path of the daemon: never a crash.

Raw byte strings (random, truncated channel messages, sysex with and without its end
byte, data bytes with the high bit set, running-status fragments) go through the one MIDI
parser and the daemon's own Instrument with every shipped profile (driven as the daemon
drives it, bridge.core.drive), then the wire codec: whatever comes out must encode as a
valid client frame. No I/O.
"""

from __future__ import annotations

import functools
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.config import load_mapping, mappings_dir, shipped
from bridge.core.drive import Driver
from bridge.core.instrument import Instrument, Send
from bridge.core.mapping import MappingSet
from bridge.core.midi import parse
from bridge.protocol import codec

PROFILES = [*shipped(), "examples/techno_set"]


@functools.cache
def mapping(name: str) -> MappingSet:
    return load_mapping([mappings_dir() / f"{name}.toml"])


byte = st.integers(0, 255)
data = st.integers(0, 127)
status = st.integers(0x80, 0xEF)
raw_messages = st.one_of(
    st.binary(max_size=12).map(list),  # anything at all
    st.tuples(status, data, data).map(list),  # well-formed channel messages
    st.tuples(status).map(list),  # a status byte with its data cut off
    st.tuples(status, byte, byte).map(list),  # data bytes with the high bit set
    st.lists(data, min_size=1, max_size=3),  # running status fragments, no status byte
    st.lists(byte, max_size=40).map(lambda b: [0xF0, *b, 0xF7]),  # sysex, maybe bad inside
    st.lists(data, max_size=40).map(lambda b: [0xF0, *b]),  # sysex never ended
    st.lists(st.integers(0xF1, 0xFF), min_size=1, max_size=4),  # system messages, in bulk
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profile=st.sampled_from(PROFILES), stream=st.lists(raw_messages, max_size=80))
def test_random_midi_bytes_never_crash_and_only_valid_frames_go_out(
    profile: str, stream: list[list[int]]
) -> None:
    """Any byte stream on a controller port: parse drops what it cannot read, the mapper
    and performance take the rest, and every update the outbox emits encodes to a valid
    one-key JSON frame (no exception anywhere)."""
    m = mapping(profile)
    driver = Driver(Instrument(m), port=m.controllers[0].name if m.controllers else "")
    timed = driver.run([(0.013 * (n + 1), bytes(raw)) for n, raw in enumerate(stream)])
    for _, effect in timed:
        if isinstance(effect, Send):
            frame = json.loads(codec.encode_update(effect.update))
            assert len(frame) == 1
    # after the stream, the wire converges: glides end, nothing is left stuck (run settles)
    assert driver.instrument.next_deadline() is None


def test_parse_drops_malformed_bytes_but_reads_a_following_good_message() -> None:
    """A torn message does not poison the next one: each callback's bytes stand alone."""
    assert parse([0xB0], "p", 0.0) is None
    assert parse([0xB0, 200, 5], "p", 0.0) is None
    event = parse([0xB0, 7, 100], "p", 0.0)
    assert event is not None and (event.kind, event.number, event.value) == ("cc", 7, 100)
