"""A Lyria-like websocket server that misbehaves on purpose, for tests. Network I/O.

It speaks the protocol well enough (setup → setupComplete, streams a sine while playing)
and injects one planned ``Fault`` per connection: drop the TCP connection, close with a
code, never answer setup, send garbage, stall. ``session_limit`` ends every session after
N seconds with 1011, like Google's ~600 s cap. Each connection ``k`` plays its own
frequency (``base_freq * (1 + k/4)``) so a test can tell sessions apart in the audio.

Everything a client sent is recorded (``connections[k].frames``, request headers and
path) so tests can check the state replay and that the API key never left the header.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from bridge.core.playback import PlayState, after
from bridge.core.types import Playback

RATE = 48_000
# The test server's own websockets log would show the client's key header at DEBUG: keep it
# out of the captured logs, which must prove the *client* never logs the key.
_SERVER_LOG = logging.getLogger("tests.faultserver")
_SERVER_LOG.setLevel(logging.WARNING)
PATH = "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateMusic"

GOOD_FRAME = {"serverContent": {"audioChunks": []}}
GARBAGE: tuple[str | bytes, ...] = (
    "this is not json",
    b"\xff\xfe\x00 not utf-8",
    '{"serverContent": {"audioChunks": [{"data": "!!!not base64", '
    '"mimeType": "audio/l16;rate=48000;channels=2"}]}}',
    '{"serverContent": {"audioChunks": [{"data": "AAAA", "mimeType": "audio/mp3"}]}}',
    '{"serverContent": {"audioChunks": [{"data": "AAA=", '
    '"mimeType": "audio/l16;rate=48000;channels=2"}]}}',  # 2 bytes: a torn frame
    '{"mysteryKey": {"x": 1}}',
    "[1, 2, 3]",
    '{"serverContent": {"audioChunks": [{"data": "AAAAAAAA", "mimeT',  # truncated
)


@dataclass
class Fault:
    """What one connection does wrong. ``after`` counts audio chunks sent."""

    # "" | "drop" | "close" | "stall" | "garbage" | "no_setup" | "reject" | "filter"
    action: str = ""
    after: int = 0
    code: int = 1011
    reason: str = ""
    stall: float = 10.0


@dataclass
class Connection:
    """What one client connection sent, and its request."""

    index: int
    path: str
    headers: dict[str, str]
    frames: list[Any] = field(default_factory=list)
    chunks_sent: int = 0
    close_code: int | None = None  # as seen by the server, once closed
    opened_at: float = field(default_factory=time.monotonic)
    dropped_at: float | None = None  # when a "drop" fault cut the TCP connection

    def kinds(self) -> list[str]:
        """The top-level key of each frame, PLAY/PAUSE spelled out for playback controls."""
        out = []
        for frame in self.frames:
            key = next(iter(frame))
            out.append(frame[key] if key == "playbackControl" else key)
        return out


class FaultServer:
    def __init__(
        self,
        faults: list[Fault] | None = None,
        *,
        session_limit: float | None = None,
        chunk_seconds: float = 0.1,
        speed: float = 4.0,
        first_audio_delay: float = 0.0,
        base_freq: float = 300.0,
        port: int = 0,
    ) -> None:
        self.faults = faults or []
        self.session_limit = session_limit
        self.chunk_frames = int(chunk_seconds * RATE)
        self.speed = speed
        self.first_audio_delay = first_audio_delay
        self.base_freq = base_freq
        self.connections: list[Connection] = []
        self.server: Server | None = None
        self.port = port
        self.new_connection = asyncio.Event()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{PATH}"

    async def __aenter__(self) -> FaultServer:
        self.server = await serve(
            self._handle, "127.0.0.1", self.port, compression=None, logger=_SERVER_LOG
        )
        self.port = int(next(iter(self.server.sockets)).getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    def fault(self, index: int) -> Fault:
        return self.faults[index] if index < len(self.faults) else Fault()

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        conn = Connection(len(self.connections), ws.request.path, dict(ws.request.headers))
        self.connections.append(conn)
        self.new_connection.set()
        fault = self.fault(conn.index)
        with contextlib.suppress(ConnectionClosed):
            await self._session(ws, conn, fault)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ws.wait_closed(), 5)
        conn.close_code = ws.close_code

    async def _session(self, ws: ServerConnection, conn: Connection, fault: Fault) -> None:
        conn.frames.append(json.loads(await ws.recv()))
        if fault.action == "no_setup":
            await ws.wait_closed()  # never answer; end when the client gives up
            return
        if fault.action == "reject":
            await ws.close(fault.code, fault.reason)
            return
        await ws.send(json.dumps({"setupComplete": {}}))
        # "playing" is derived from "play" (subclasses' streamers read it)
        state: dict[str, Any] = {"play": PlayState.STOPPED, "playing": False, "prompts": False}
        reader = asyncio.create_task(self._read(ws, conn, state))
        try:
            async with asyncio.timeout(self.session_limit):
                await self._stream(ws, conn, fault, state)
        except TimeoutError:
            await ws.close(1011, "The service is currently unavailable.")
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _read(self, ws: ServerConnection, conn: Connection, state: dict[str, Any]) -> None:
        async for frame in ws:
            message = json.loads(frame)
            conn.frames.append(message)
            if "clientContent" in message:
                state["prompts"] = True
            if "playbackControl" in message:
                state["play"] = after(state["play"], Playback(message["playbackControl"]))
                state["playing"] = state["play"] is PlayState.PLAYING

    async def _stream(
        self, ws: ServerConnection, conn: Connection, fault: Fault, state: dict[str, Any]
    ) -> None:
        freq = self.base_freq * (1 + conn.index / 4)
        phase = 0.0
        first = True
        while True:
            if not (state["playing"] and state["prompts"]):
                if ws.close_code is not None:
                    return  # the client left while nothing was streaming
                await asyncio.sleep(0.01)
                continue
            if first and self.first_audio_delay:
                await asyncio.sleep(self.first_audio_delay)
            first = False
            if (
                fault.action
                and conn.chunks_sent == fault.after
                and await self._inject(ws, conn, fault)
            ):
                return
            samples, phase = self._sine(freq, phase)
            await ws.send(audio_frame(samples, meta={"connection": conn.index}))
            conn.chunks_sent += 1
            await asyncio.sleep(self.chunk_frames / RATE / self.speed)

    async def _inject(self, ws: ServerConnection, conn: Connection, fault: Fault) -> bool:
        """Do the fault; True when the session is over."""
        if fault.action == "filter":  # refuse the first prompt of the latest set
            prompts = [f for f in conn.frames if "clientContent" in f][-1]
            text = prompts["clientContent"]["weightedPrompts"][0]["text"]
            await ws.send(json.dumps({"filteredPrompt": {"text": text, "filteredReason": "x"}}))
        if fault.action == "drop":
            conn.dropped_at = time.monotonic()
            ws.transport.abort()  # no close frame: the client sees a dropped TCP connection
            return True
        if fault.action == "close":
            await ws.close(fault.code, fault.reason)
            return True
        if fault.action == "stall":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ws.wait_closed(), fault.stall)
            return ws.state.name != "OPEN"
        elif fault.action == "garbage":
            for frame in GARBAGE:
                await ws.send(frame)
        return False

    def _sine(self, freq: float, phase: float) -> tuple[np.ndarray, float]:
        step = 2 * np.pi * freq / RATE
        phases = phase + step * np.arange(self.chunk_frames)
        mono = 0.5 * np.sin(phases)
        return np.stack([mono, mono], axis=1), float((phases[-1] + step) % (2 * np.pi))


def audio_frame(
    samples: np.ndarray, binary: bool = True, meta: dict[str, Any] | None = None
) -> str | bytes:
    """A serverContent frame for float samples [n, 2], built independently of the codec;
    ``meta`` becomes its sourceMetadata (the tests' server names the connection there)."""
    pcm = np.round(np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    chunk: dict[str, Any] = {
        "data": base64.b64encode(pcm).decode(),
        "mimeType": "audio/l16;rate=48000;channels=2",
    }
    if meta is not None:
        chunk["sourceMetadata"] = meta
    text = json.dumps({"serverContent": {"audioChunks": [chunk]}})
    return text.encode() if binary else text


def self_signed_cert(directory: Any) -> tuple[str, str]:
    """Write a self-signed certificate for 127.0.0.1/localhost; returns (cert, key) paths."""
    import datetime
    import ipaddress
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = Path(directory) / "cert.pem", Path(directory) / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)
