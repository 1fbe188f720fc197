"""The Lyria codec: every message both ways, and every malformed frame becomes an event."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.core.types import (
    SCALES,
    AudioChunk,
    Control,
    GenerationConfig,
    Playback,
    SetConfig,
    SetPrompts,
    WeightedPrompt,
)
from bridge.errors import LocalProtocolError
from bridge.protocol import codec
from bridge.protocol.codec import (
    AudioChunks,
    FilteredPrompt,
    ProtocolErrorEvent,
    ServerDecoder,
    Setup,
    SetupComplete,
    UnknownKeys,
)

FULL_CONFIG = GenerationConfig(
    temperature=1.3,
    top_k=200,
    seed=42,
    guidance=5.0,
    bpm=128,
    density=0.25,
    brightness=0.75,
    scale="D_MAJOR_B_MINOR",
    mute_bass=True,
    mute_drums=False,
    only_bass_and_drums=True,
    mode="DIVERSITY",
)
FULL_CONFIG_WIRE = {
    "temperature": 1.3,
    "topK": 200,
    "seed": 42,
    "guidance": 5.0,
    "bpm": 128,
    "density": 0.25,
    "brightness": 0.75,
    "scale": "D_MAJOR_B_MINOR",
    "muteBass": True,
    "muteDrums": False,
    "onlyBassAndDrums": True,
    "musicGenerationMode": "DIVERSITY",
}

# --- client messages: encode ---------------------------------------------------------------
ENCODE_TABLE = [
    (
        SetPrompts((WeightedPrompt("minimal techno", 1.0), WeightedPrompt("dub", 0.5))),
        {
            "clientContent": {
                "weightedPrompts": [
                    {"text": "minimal techno", "weight": 1.0},
                    {"text": "dub", "weight": 0.5},
                ]
            }
        },
    ),
    (SetConfig(FULL_CONFIG), {"musicGenerationConfig": FULL_CONFIG_WIRE}),
    (
        SetConfig(GenerationConfig()),
        {
            "musicGenerationConfig": {
                "temperature": 1.1,
                "topK": 40,
                "guidance": 4.0,
                "muteBass": False,
                "muteDrums": False,
                "onlyBassAndDrums": False,
                "musicGenerationMode": "QUALITY",
            }
        },
    ),
    *((Control(p), {"playbackControl": p.value}) for p in Playback),
]


@pytest.mark.parametrize(("update", "wire"), ENCODE_TABLE)
def test_encode_update(update, wire):
    """Each Update becomes one text frame with exactly the documented lowerCamelCase JSON."""
    frame = codec.encode_update(update)
    assert isinstance(frame, str)
    assert json.loads(frame) == wire


@pytest.mark.parametrize(
    ("model", "wire"),
    [
        ("models/lyria-realtime-exp", "models/lyria-realtime-exp"),
        ("lyria-realtime-exp", "models/lyria-realtime-exp"),
        (" lyria-002 ", "models/lyria-002"),
    ],
)
def test_encode_setup_prefixes_bare_model_names(model, wire):
    """setup carries the model; a bare name gets the models/ prefix."""
    assert json.loads(codec.encode_setup(model)) == {"setup": {"model": wire}}


@pytest.mark.parametrize(
    "update",
    [
        SetPrompts(()),
        SetPrompts((WeightedPrompt("a", 0.0),)),
        SetPrompts((WeightedPrompt("a", float("nan")),)),
        SetConfig(GenerationConfig(bpm=300)),
        SetConfig(GenerationConfig(top_k=0)),
        SetConfig(GenerationConfig(scale="H_MAJOR")),
        SetConfig(GenerationConfig(mode="LOUD")),
        SetConfig(GenerationConfig(temperature=3.5)),
    ],
)
def test_encoding_a_bad_update_is_a_local_error(update):
    """Our own misuse (empty set, zero weight, out-of-range value) raises LocalProtocolError."""
    with pytest.raises(LocalProtocolError):
        codec.encode_update(update)


def test_encode_setup_rejects_empty_model():
    """An empty model name is our bug, not something to send."""
    with pytest.raises(LocalProtocolError, match="model"):
        codec.encode_setup("  ")


# --- client messages: decode (serve side), round trip ---------------------------------------
@pytest.mark.parametrize(("update", "wire"), ENCODE_TABLE)
def test_decode_client_round_trips(update, wire):
    """What the client encodes, the server decodes back to the same Update."""
    assert codec.decode_client(codec.encode_update(update)) == update
    assert codec.decode_client(json.dumps(wire).encode()) == update


def test_decode_client_setup():
    """The setup frame yields the model name."""
    assert codec.decode_client(codec.encode_setup("x")) == Setup("models/x")


def test_decode_client_config_defaults_omitted_fields_and_unspecified_scale():
    """Omitted config fields take their defaults; SCALE_UNSPECIFIED means auto (None)."""
    event = codec.decode_client(
        '{"musicGenerationConfig": {"bpm": 90, "scale": "SCALE_UNSPECIFIED"}}'
    )
    assert event == SetConfig(GenerationConfig(bpm=90, scale=None))


@given(
    bpm=st.one_of(st.none(), st.integers(60, 200)),
    density=st.one_of(st.none(), st.floats(0, 1)),
    scale=st.one_of(st.none(), st.sampled_from(SCALES)),
    seed=st.one_of(st.none(), st.integers(0, 2_147_483_647)),
    mute=st.booleans(),
)
def test_any_valid_config_round_trips(bpm, density, scale, seed, mute):
    """Every valid config survives encode → decode unchanged."""
    update = SetConfig(
        GenerationConfig(bpm=bpm, density=density, scale=scale, seed=seed, mute_drums=mute)
    )
    assert codec.decode_client(codec.encode_update(update)) == update


MALFORMED_CLIENT = [
    ("not json", "not valid JSON"),
    (b"\xff\xfe", "not UTF-8"),
    ("[]", "not an object"),
    ("{}", "exactly one top-level key"),
    ('{"playbackControl": "PLAY", "setup": {}}', "exactly one top-level key"),
    ('{"hello": 1}', "unknown client message"),
    ('{"setup": {}}', "model"),
    ('{"setup": {"model": " "}}', "must not be empty"),
    ('{"clientContent": {}}', "weightedPrompts"),
    ('{"clientContent": {"weightedPrompts": [{"text": 5, "weight": 1}]}}', "text"),
    ('{"clientContent": {"weightedPrompts": [{"text": "a", "weight": "x"}]}}', "weight"),
    ('{"clientContent": {"weightedPrompts": ["a"]}}', "text"),
    ('{"musicGenerationConfig": []}', "must be an object"),
    ('{"musicGenerationConfig": {"bpm": 500}}', "bpm out of range (allowed 60..200"),
    ('{"musicGenerationConfig": {"bpm": 120.5}}', "bpm must be a whole number"),
    ('{"musicGenerationConfig": {"topK": true}}', "topK"),
    ('{"musicGenerationConfig": {"muteBass": 1}}', "muteBass must be true or false"),
    (
        '{"musicGenerationConfig": {"scale": "C_MAJOR"}}',
        "scale unknown value (allowed C_MAJOR_A_MINOR",
    ),
    ('{"musicGenerationConfig": {"loudness": 1}}', "unknown musicGenerationConfig field"),
    ('{"playbackControl": "REWIND"}', "playbackControl must be one of"),
    ('{"playbackControl": 1}', "playbackControl must be one of"),
]


@pytest.mark.parametrize(("frame", "message"), MALFORMED_CLIENT)
def test_malformed_client_frame_is_an_error_event(frame, message):
    """A malformed client frame never raises: it becomes a ProtocolErrorEvent saying why."""
    event = codec.decode_client(frame)
    assert isinstance(event, ProtocolErrorEvent)
    assert message in event.message


# --- server messages ------------------------------------------------------------------------
def pcm_b64(samples: np.ndarray) -> str:
    """int16 LE interleaved, built by hand (not with the codec)."""
    ints = np.round(samples * 32767).astype("<i2")
    return base64.b64encode(ints.tobytes()).decode()


STEREO = np.array([[0.5, -0.5], [0.25, 0.0], [-1.0, 1.0]], dtype=np.float32)


@pytest.mark.parametrize("binary", [False, True])
def test_decode_audio_chunks_text_or_binary(binary):
    """serverContent.audioChunks decode to float32 [n, channels] with rate and metadata."""
    meta = {"clientContent": {"weightedPrompts": [{"text": "a", "weight": 1.0}]}}
    frame = json.dumps(
        {
            "serverContent": {
                "audioChunks": [
                    {"data": pcm_b64(STEREO), "mimeType": "audio/l16;rate=48000;channels=2"},
                    {
                        "data": pcm_b64(STEREO[:, :1]),
                        "mimeType": "audio/l16;rate=44100;channels=1",
                        "sourceMetadata": meta,
                    },
                ]
            }
        }
    )
    (event,) = ServerDecoder().receive(frame.encode() if binary else frame)
    assert isinstance(event, AudioChunks)
    first, second = event.chunks
    assert first.samples.dtype == np.float32 and first.samples.shape == (3, 2)
    np.testing.assert_allclose(first.samples, STEREO, atol=1 / 16000)
    assert first.rate == 48000 and first.meta == {}
    assert second.samples.shape == (3, 1) and second.rate == 44100 and second.meta == meta


def test_mime_without_parameters_defaults_to_48k_stereo():
    """audio/pcm with no rate or channels is read as 48 kHz stereo."""
    assert codec.parse_mime("audio/pcm") == (48000, 2)
    assert codec.parse_mime("audio/L16; rate=24000; channels=1") == (24000, 1)


@pytest.mark.parametrize(
    ("frame", "event"),
    [
        ('{"setupComplete": {}}', SetupComplete()),
        (
            '{"filteredPrompt": {"text": "artist x", "filteredReason": "blocked"}}',
            FilteredPrompt("artist x", "blocked"),
        ),
        ('{"serverContent": {}}', AudioChunks(())),
    ],
)
def test_decode_control_messages(frame, event):
    """setupComplete, filteredPrompt and an empty serverContent decode to their events."""
    assert ServerDecoder().receive(frame) == [event]


def test_unknown_keys_are_reported_once_per_decoder():
    """Unknown top-level keys are reported the first time only; known keys still decode."""
    decoder = ServerDecoder()
    assert decoder.receive('{"goAway": {}, "setupComplete": {}}') == [
        SetupComplete(),
        UnknownKeys(("goAway",)),
    ]
    assert decoder.receive('{"goAway": {}}') == []
    assert decoder.receive('{"usageMetadata": 1}') == [UnknownKeys(("usageMetadata",))]


GOOD_MIME = "audio/l16;rate=48000;channels=2"


def chunk_frame(**entry: object) -> str:
    """A serverContent frame with one audio chunk made of ``entry``."""
    return json.dumps({"serverContent": {"audioChunks": [entry]}})


MALFORMED_SERVER = [
    ("{not json", "not valid JSON"),
    (b"\x80\x81", "not UTF-8"),
    ('"just a string"', "not an object"),
    ('{"serverContent": {"audioChunks": [{"data": "AAAAAAAA", "mimeT', "not valid JSON"),
    ('{"serverContent": []}', "serverContent must be an object"),
    ('{"serverContent": {"audioChunks": {}}}', "must be a list"),
    (chunk_frame(mimeType=GOOD_MIME), "base64 'data'"),
    (chunk_frame(data="!!", mimeType=GOOD_MIME), "base64"),
    (chunk_frame(data="AAA=", mimeType=GOOD_MIME), "whole"),
    (chunk_frame(data="AAAA"), "mimeType string"),
    (chunk_frame(data="AAAA", mimeType="audio/mp3"), "unsupported"),
    (chunk_frame(data="AAAA", mimeType="audio/l16;rate=x"), "integers"),
    (chunk_frame(data="AAAA", mimeType="audio/l16;rate=5"), "8000"),
    (chunk_frame(data="AAAA", mimeType="audio/l16;channels=0"), "channels"),
    ('{"filteredPrompt": "x"}', "filteredPrompt must be an object"),
]


@pytest.mark.parametrize(("frame", "message"), MALFORMED_SERVER)
def test_malformed_server_frame_is_an_error_event(frame, message):
    """Bad JSON, bad base64, odd mimeType, torn audio: one ProtocolErrorEvent, no exception."""
    (event,) = ServerDecoder().receive(frame)
    assert isinstance(event, ProtocolErrorEvent)
    assert message in event.message


@given(st.binary(max_size=200))
def test_decoders_never_raise_on_arbitrary_bytes(data):
    """Whatever arrives, both decoders return events instead of raising."""
    assert isinstance(ServerDecoder().receive(data), list)
    assert codec.decode_client(data) is not None


# --- server messages: encode (serve side) ----------------------------------------------------
def test_encode_audio_round_trips_through_the_client_decoder():
    """A chunk the server encodes is a binary frame the client decodes to the same samples."""
    samples = np.sin(np.linspace(0, 20, 960 * 2)).reshape(-1, 2).astype(np.float32) * 0.8
    meta = codec.source_metadata((WeightedPrompt("a", 2.0),), GenerationConfig(bpm=100))
    frame = codec.encode_audio(AudioChunk(samples, 48000), meta)
    assert isinstance(frame, bytes)
    wire = json.loads(frame)["serverContent"]["audioChunks"][0]
    assert wire["mimeType"] == "audio/l16;rate=48000;channels=2"
    assert wire["sourceMetadata"]["musicGenerationConfig"]["bpm"] == 100
    (event,) = ServerDecoder().receive(frame)
    assert isinstance(event, AudioChunks)
    np.testing.assert_allclose(event.chunks[0].samples, samples, atol=1 / 16000)
    assert event.chunks[0].meta == meta


def test_encode_audio_clips_out_of_range_samples():
    """Samples beyond -1..1 are clipped to full scale, not wrapped around."""
    frame = codec.encode_audio(AudioChunk(np.array([[2.0, -3.0]], dtype=np.float32)))
    data = json.loads(frame)["serverContent"]["audioChunks"][0]["data"]
    assert np.frombuffer(base64.b64decode(data), "<i2").tolist() == [32767, -32767]


def test_encode_setup_complete_and_filtered():
    """The other two server messages, as documented."""
    assert json.loads(codec.encode_setup_complete()) == {"setupComplete": {}}
    assert json.loads(codec.encode_filtered("x", "why")) == {
        "filteredPrompt": {"text": "x", "filteredReason": "why"}
    }
