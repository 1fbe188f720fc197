"""The status page in a real headless Chromium, driven over the DevTools protocol.

Debian's ``chromium`` (no browser download) is started with ``--remote-debugging-port=0``;
the test reads the DevTools address from its stderr and speaks CDP over a websocket.
The page is loaded from a real StatusServer whose "daemon" is a real Performance: the
test checks that the 16 slots render with their texts, that clicking on a slider and a
button reaches the Performance as Changes, that the page follows the daemon's state,
and it saves a screenshot under the pytest tmp dir. The layout is checked at a phone's
width (390 px) and a laptop's (1200 px): nothing wider than the screen, and on the phone
playback, scenes and config within one swipe; the controllers panel says why it is empty.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import struct
import time
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from bridge.core.mapping import MappingSet
from bridge.core.types import Change, PerformanceSpec, SceneSpec, SlotSpec
from bridge.status.server import StatusServer
from tests.status_rig import StandIn

pytestmark = pytest.mark.anyio

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
if CHROMIUM is None:
    pytest.skip(
        "chromium is not installed (apt-get install -y --no-install-recommends chromium)",
        allow_module_level=True,
    )

SPEC = PerformanceSpec(
    slots=tuple(SlotSpec(f"slot text {n}", weight=(n % 4) * 0.5) for n in range(1, 17)),
    scenes=(SceneSpec("intro", weights={1: 2.0}), SceneSpec("drop", weights={2: 2.0})),
    deck_a=(1, 2),
    deck_b=(3, 4),
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Rig(StandIn):
    """A daemon stand-in made of a real Instrument."""

    def __init__(self) -> None:
        super().__init__(MappingSet(performance=SPEC))
        self.extra: dict[str, Any] = {}  # fields a test adds to (or overrides in) snapshots

    def snapshot(self) -> dict[str, Any]:
        return self._snapshot() | self.extra

    def _snapshot(self) -> dict[str, Any]:
        return {
            "performance": self.perf.snapshot(),
            "engine": {"engine": "synth", "state": "streaming", "reconnects": 1},
            "audio": {
                "fill_seconds": 1.4,
                "target_seconds": 2.0,
                "high_mark_seconds": 4.0,
                "underruns": 2,
                "device": "system",
            },
            "controllers": {"nanoKONTROL2": True, "MIDImix": False},
            "process": {"cpu_percent": 4.2, "rss_mb": 61.5, "uptime": 12.0},
        }


class Cdp:
    """A minimal DevTools-protocol client: numbered calls, flattened target sessions."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            future = self.pending.pop(message.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(message)

    async def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        number = next(self.ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[number] = future
        await self.ws.send(json.dumps(message))
        reply = await asyncio.wait_for(future, 20)
        if "error" in reply:
            raise AssertionError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result


class Page:
    """One tab: evaluate JavaScript, wait for conditions, click, screenshot."""

    def __init__(self, cdp: Cdp, session: str) -> None:
        self.cdp, self.session = cdp, session

    async def eval(self, expression: str) -> Any:
        result = await self.cdp.call(
            "Runtime.evaluate", self.session, expression=expression, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(AssertionError):
                value = await self.eval(expression)
                if value:
                    return value
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {expression}")

    async def click(self, x: float, y: float) -> None:
        """A real mouse click at page coordinates (press + release)."""
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            await self.cdp.call(
                "Input.dispatchMouseEvent",
                self.session,
                type=kind,
                x=x,
                y=y,
                button="left" if kind != "mouseMoved" else "none",
                clickCount=1 if kind != "mouseMoved" else 0,
            )

    async def rect(self, selector: str) -> dict[str, float]:
        rect: dict[str, float] = await self.eval(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
            ".getBoundingClientRect(); return {x: r.x, y: r.y, w: r.width, h: r.height}; })()"
        )
        return rect

    async def screenshot(self, path: Path) -> bytes:
        result = await self.cdp.call("Page.captureScreenshot", self.session, format="png")
        data = base64.b64decode(result["data"])
        path.write_bytes(data)
        return data


async def _devtools_url(proc: asyncio.subprocess.Process, timeout: float = 30.0) -> str:
    """Read chromium's stderr until it prints "DevTools listening on ws://..."."""
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = await asyncio.wait_for(proc.stderr.readline(), deadline - time.monotonic())
        if not line:
            break
        text = line.decode(errors="replace").strip()
        seen.append(text)
        if text.startswith("DevTools listening on "):
            return text.removeprefix("DevTools listening on ")
    raise AssertionError("chromium did not start:\n" + "\n".join(seen[-20:]))


async def _drain(stream: asyncio.StreamReader | None) -> None:
    """Keep reading chromium's stderr so a full pipe never blocks it."""
    while stream is not None and await stream.readline():
        pass


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Cdp]:
    assert CHROMIUM is not None
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,1100",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--remote-debugging-port=0",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group: renderers are stopped with it
    )
    drain: asyncio.Task[None] | None = None
    try:
        url = await _devtools_url(proc)
        drain = asyncio.create_task(_drain(proc.stderr))
        async with connect(url, max_size=64 * 2**20) as ws:
            cdp = Cdp(ws)
            yield cdp
            # ask politely; the browser closes the socket instead of answering
            await ws.send(json.dumps({"id": 0, "method": "Browser.close", "params": {}}))
            cdp.reader.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 5)
    finally:
        await _stop(proc)
        if drain is not None:
            drain.cancel()


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """Stop chromium and whatever it left in its process group (ours, by its id)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            await asyncio.wait_for(proc.wait(), 5)
            return
        except TimeoutError:
            continue


@pytest.fixture
async def served() -> AsyncIterator[tuple[Rig, StatusServer]]:
    rig = Rig()
    server = StatusServer("127.0.0.1", 0, None, rig.snapshot, rig.control)
    rig.server = server
    await server.start()
    try:
        yield rig, server
    finally:
        await server.close()


async def open_page(
    cdp: Cdp, url: str, width: int = 1280, height: int = 1100, mobile: bool = False
) -> Page:
    target = await cdp.call("Target.createTarget", url="about:blank")
    attached = await cdp.call("Target.attachToTarget", targetId=target["targetId"], flatten=True)
    page = Page(cdp, attached["sessionId"])
    await cdp.call("Page.enable", page.session)
    await cdp.call(
        "Emulation.setDeviceMetricsOverride",
        page.session,
        width=width,
        height=height,
        deviceScaleFactor=1,
        mobile=mobile,
    )
    await cdp.call("Page.navigate", page.session, url=url)
    return page


def png_summary(data: bytes) -> tuple[int, int, int]:
    """(width, height, distinct byte values of the decompressed pixels) of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat, pos = b"", 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


async def test_the_page_renders_the_slots_and_drives_the_daemon(
    browser: Cdp, served: tuple[Rig, StatusServer], tmp_path: Path
) -> None:
    """Headless Chromium shows 16 slots with their texts and live bars; clicking a slider
    and the Play button reach the daemon as Changes; the page follows the new state."""
    rig, server = served
    page = await open_page(browser, f"http://127.0.0.1:{server.port}/")
    await page.wait_for("document.querySelectorAll('.slot').length === 16")
    await page.wait_for("document.getElementById('connText').textContent === 'live'")

    texts = await page.eval(
        "[...document.querySelectorAll('.slot input[type=text]')].map(i => i.value)"
    )
    assert texts == [f"slot text {n}" for n in range(1, 17)]
    widths = await page.eval(
        "[...document.querySelectorAll('.slot .bar > i')].map(i => i.style.width)"
    )
    # effective weight / hi as a bar: slot 4 has weight 0 → 0%, slot 3 (deck B at 0.5) > 0
    assert widths[3] == "0%" and widths[2] != "0%" and len(set(widths)) > 2
    assert await page.eval("document.querySelectorAll('#config .row').length") == 12
    assert "MIDImix" in await page.eval("document.getElementById('controllers').textContent")

    # a real mouse click at 80 % of slot 5's weight slider (range 0..2)
    rect = await page.rect('[data-target="slot.5.weight"]')
    await page.click(rect["x"] + rect["w"] * 0.8, rect["y"] + rect["h"] / 2)
    deadline = time.monotonic() + 5
    while not any(c.target == "slot.5.weight" for c in rig.applied):
        assert time.monotonic() < deadline, "the slider move never reached the daemon"
        await asyncio.sleep(0.02)
    moved = [c for c in rig.applied if c.target == "slot.5.weight"]
    assert moved[-1].source == "status"
    assert 1.3 <= float(moved[-1].value or 0) <= 1.9  # where the click landed on 0..2
    assert rig.perf.get("slot.5.weight") == moved[-1].value

    # the Play button
    rect = await page.rect("#btnPlay")
    await page.click(rect["x"] + rect["w"] / 2, rect["y"] + rect["h"] / 2)
    await page.wait_for("document.getElementById('btnPlay').classList.contains('active')")
    assert rig.perf.playing and Change("playback", "play", source="status") in rig.applied

    # a change made elsewhere (a MIDI knob) shows up on the page
    rig.perf.apply(Change("slot.16.text", "rain on a tin roof"), 0.0)
    rig.perf.apply(Change("scene.recall", "drop"), 0.0)
    server.notify()
    await page.wait_for(
        "document.querySelectorAll('.slot input[type=text]')[15].value === 'rain on a tin roof'"
    )
    await page.wait_for("document.getElementById('sceneName').textContent === 'drop'")

    shot = await page.screenshot(tmp_path / "status_page.png")
    width, height, distinct = png_summary(shot)
    assert (width, height) == (1280, 1100)
    assert len(shot) > 20_000 and distinct > 50  # a rendered page, not a blank frame


# Where each panel is, and whether anything sticks out sideways (a horizontal scrollbar).
LAYOUT_JS = """(() => {
  const box = (el) => { const r = el.getBoundingClientRect();
    return {top: r.top + scrollY, bottom: r.bottom + scrollY, left: r.left, right: r.right}; };
  const wide = [...document.querySelectorAll('body *')]
    .filter((el) => el.getBoundingClientRect().right > innerWidth + 0.5)
    .map((el) => el.id || el.tagName);
  const panels = {};
  for (const id of ['slotsPanel', 'mixPanel', 'configPanel', 'audioPanel', 'controllersPanel'])
    panels[id] = box(document.getElementById(id));
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth, innerHeight, wide,
          panels, header: box(document.querySelector('header')),
          scale: box(document.getElementById('config_scale')),
          slotColumns: new Set([...document.querySelectorAll('.slot')]
            .map((el) => Math.round(el.getBoundingClientRect().left))).size};
})()"""


async def _layout(browser: Cdp, port: int, width: int, height: int, shot: Path) -> Any:
    page = await open_page(
        browser, f"http://127.0.0.1:{port}/", width=width, height=height, mobile=width < 700
    )
    await page.wait_for("document.querySelectorAll('.slot').length === 16")
    await page.wait_for("document.querySelectorAll('#config .row').length === 12")
    await page.eval("document.getElementById('config_scale').value = 'G_FLAT_MAJOR_E_FLAT_MINOR'")
    data = await page.screenshot(shot)
    assert png_summary(data)[:2] == (width, height)
    return await page.eval(LAYOUT_JS)


async def test_layout_at_phone_and_laptop_widths(
    browser: Cdp, served: tuple[Rig, StatusServer], tmp_path: Path
) -> None:
    """At 390 px nothing is wider than the screen (the scale dropdown stays in its panel)
    and playback, scenes and config are within one swipe (two screen heights), before
    the 16 slot cards; at 1200 px the slots come first, four or more cards a row."""
    _, server = served
    phone = await _layout(browser, server.port, 390, 844, tmp_path / "status_390.png")
    assert phone["scrollWidth"] <= 390 and phone["wide"] == [], phone["wide"]
    assert phone["scale"]["right"] <= phone["panels"]["configPanel"]["right"]
    panels = phone["panels"]
    assert panels["mixPanel"]["top"] < 844  # scenes start on the first screen
    assert panels["configPanel"]["bottom"] <= 2 * 844  # config ends within one swipe
    assert panels["slotsPanel"]["top"] >= panels["configPanel"]["bottom"]
    assert phone["header"]["bottom"] < 844 / 4  # the sticky playback bar stays small

    laptop = await _layout(browser, server.port, 1200, 900, tmp_path / "status_1200.png")
    assert laptop["scrollWidth"] <= 1200 and laptop["wide"] == [], laptop["wide"]
    assert laptop["panels"]["slotsPanel"]["top"] < laptop["panels"]["mixPanel"]["top"]
    assert laptop["slotColumns"] >= 4
    assert laptop["panels"]["mixPanel"]["top"] < 900  # scenes visible without scrolling


async def test_controllers_panel_says_why_there_are_none(
    browser: Cdp, served: tuple[Rig, StatusServer], tmp_path: Path
) -> None:
    """An empty controllers list is explained from the snapshot's ``controllers_reason``
    (the daemon's sentence, or a code "midi_unavailable" / "none_configured", with an
    optional ``controllers_detail``); a daemon that sends no reason gets an honest
    "did not say"."""
    rig, server = served
    page = await open_page(browser, f"http://127.0.0.1:{server.port}/", 390, 844, True)
    await page.wait_for("document.getElementById('controllers').textContent.includes('MIDImix')")
    text = "document.getElementById('controllersPanel').textContent"
    midi_down = "MIDI unavailable: no ALSA sequencer (/dev/snd/seq) and no JACK server"
    none = "no controller configured (add a profile with --mapping or in the rig file)"
    cases = [
        ({"controllers_reason": midi_down}, [midi_down]),
        ({"controllers_reason": none}, [none]),
        (
            {"controllers_reason": "midi_unavailable", "controllers_detail": "tried ALSA, JACK"},
            ["MIDI unavailable: no MIDI system could be opened", "tried ALSA, JACK"],
        ),
        ({"controllers_reason": "none_configured"}, ["no controller configured", "--mapping"]),
        ({"controllers_reason": None}, ["did not say why"]),
    ]
    for extra, expected in cases:
        rig.extra = {"controllers": {}, **extra}
        server.notify()
        for phrase in expected:
            await page.wait_for(f"{text}.includes({json.dumps(phrase)})")
        if extra.get("controllers_reason") == midi_down:
            await page.eval("document.getElementById('controllersPanel').scrollIntoView()")
            await page.screenshot(tmp_path / "status_390_no_midi.png")
    # configured controllers, but no MIDI system: each is missing, and the panel says why
    rig.extra = {"controllers": {"MIDImix": False}, "controllers_reason": midi_down}
    server.notify()
    await page.wait_for(f"{text}.includes('missing') && {text}.includes({json.dumps(midi_down)})")
