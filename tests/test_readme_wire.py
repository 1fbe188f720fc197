"""The README's wire messages for people writing their own client are the exact bytes
PromptBridge's codec sends and ``serve`` answers, and each decodes on the other side."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bridge.core.types import (
    AudioChunk,
    Control,
    GenerationConfig,
    Playback,
    SetConfig,
    SetPrompts,
    WeightedPrompt,
)
from bridge.protocol import codec

README = Path(__file__).parent.parent / "README.md"


def _session_block() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("#### The wire messages, for a client of your own", 1)[1]
    block = section.split("```", 2)[1]
    return [line for line in block.splitlines() if line.startswith(("> ", "< "))]


def test_readme_wire_messages_are_the_codecs() -> None:
    """Every `>`/`<` line of the README's session is what the codec produces, in order."""
    prompts = (WeightedPrompt("minimal techno", 1.0), WeightedPrompt("dub chords", 0.5))
    config = GenerationConfig(bpm=124, density=0.6, scale="D_MAJOR_B_MINOR", seed=7)
    samples = np.array([[0.5, -0.5], [0.0, 0.0]], dtype=np.float32)
    meta = codec.source_metadata(prompts[:1], GenerationConfig(bpm=124))
    expected = [
        "> " + codec.encode_setup(),
        "< " + codec.encode_setup_complete(),
        "> " + codec.encode_update(SetPrompts(prompts)),
        "> " + codec.encode_update(SetConfig(config)),
        "> " + codec.encode_update(Control(Playback.PLAY)),
        "< " + codec.encode_audio(AudioChunk(samples), meta).decode(),
        "< " + codec.encode_filtered("", "empty prompt text"),
    ]
    assert _session_block() == expected


def test_readme_messages_decode_on_the_other_side() -> None:
    """Client lines are accepted by serve's decoder, server lines by the client's."""
    decoder = codec.ServerDecoder()
    for line in _session_block():
        if line.startswith("< "):
            events = decoder.receive(line[2:])
            assert events and not any(isinstance(e, codec.ProtocolErrorEvent) for e in events)
        else:
            event = codec.decode_client(line[2:])
            assert not isinstance(event, codec.ProtocolErrorEvent), event
