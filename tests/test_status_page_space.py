"""The status page's prompt-space pad in a real headless Chromium on a phone-sized screen.

A real StatusServer in front of a real Instrument loaded with the example space set; the
test drags the position dot (pointer events) and checks that the weights
moved *at the server*, and that a move made elsewhere moves the dot on the page.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.config import load_mapping, mappings_dir
from bridge.core.types import Change
from bridge.status.server import StatusServer
from tests.status_rig import StandIn
from tests.test_status_page import Cdp, Page, browser, open_page  # noqa: F401 (a fixture)

pytestmark = pytest.mark.anyio
SET = mappings_dir() / "examples" / "space_set.toml"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Rig(StandIn):
    """A daemon stand-in: the real Instrument, every page change recorded."""

    server: StatusServer

    def __init__(self) -> None:
        super().__init__(load_mapping([SET]))
        self.server = StatusServer("127.0.0.1", 0, None, self.snapshot, self.control)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    rig = Rig()
    await rig.server.start()
    try:
        yield rig
    finally:
        await rig.server.close()


async def phone(page: Page) -> None:
    """A 390 px wide screen. (CDP's touch emulation in mobile mode offsets touches by the
    scroll position on this Chromium, so the drag is a mouse's: the same pointer events.)"""
    await page.cdp.call(
        "Emulation.setDeviceMetricsOverride",
        page.session,
        width=390,
        height=844,
        deviceScaleFactor=2,
        mobile=False,
    )


async def drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """A press at ``start``, moved to ``end`` in 10 steps, released (the page listens to
    pointer events: a finger and a mouse take the same path)."""

    async def mouse(kind: str, x: float, y: float, buttons: int = 1) -> None:
        await page.cdp.call(
            "Input.dispatchMouseEvent", page.session, type=kind, x=x, y=y,
            button="left" if buttons or kind == "mouseReleased" else "none", buttons=buttons,
            clickCount=1 if kind != "mouseMoved" else 0,
        )  # fmt: skip

    await mouse("mouseMoved", *start, buttons=0)
    await mouse("mousePressed", *start)
    for i in range(1, 11):
        x = start[0] + (end[0] - start[0]) * i / 10
        y = start[1] + (end[1] - start[1]) * i / 10
        await mouse("mouseMoved", x, y)
        await asyncio.sleep(0.04)
    await mouse("mouseReleased", *end, buttons=0)


async def test_dragging_the_dot_moves_the_weights_at_the_server(
    browser: Cdp,  # noqa: F811 (the fixture imported above)
    rig: Rig,
    tmp_path: Path,
) -> None:
    page = await open_page(browser, "about:blank")
    await phone(page)
    await browser.call("Page.navigate", page.session, url=f"http://127.0.0.1:{rig.server.port}/")
    await page.wait_for("!document.getElementById('space').hidden")
    assert await page.eval("document.querySelectorAll('#spacePad g[data-slot]').length") == 8
    assert await page.eval("document.getElementById('spacePad').dataset.position") == "0.75,0.75"
    pad = await page.eval(
        "(() => { const s = document.getElementById('space'); s.scrollIntoView({block: 'end'});"
        " const r = document.getElementById('spacePad').getBoundingClientRect();"
        " return {x: r.x, y: r.y, w: r.width, h: r.height}; })()"
    )
    assert 250 <= pad["w"] <= 360  # fills a phone's width, stays a thumb-sized pad
    touch = "getComputedStyle(document.getElementById('spacePad')).touchAction"
    assert await page.eval(touch) == "none"  # a finger drags the dot, not the page

    def at(x: float, y: float) -> tuple[float, float]:  # space coordinates → screen
        return (
            pad["x"] + pad["w"] * (x * 100 + 4) / 108,
            pad["y"] + pad["h"] * ((1 - y) * 100 + 4) / 108,
        )

    house, ambient = rig.perf.slots[0], rig.perf.slots[2]
    assert house.weight == 1.0 and ambient.weight == 0.0
    await drag(page, at(0.75, 0.75), at(0.1, 0.9))  # from deep house to ambient
    deadline = time.monotonic() + 5
    while rig.perf.position != pytest.approx([0.1, 0.9], abs=0.02):
        assert time.monotonic() < deadline, f"the drag never landed: {rig.perf.position}"
        await asyncio.sleep(0.05)
    assert ambient.weight == 1.0 and house.weight == 0.0  # at the server
    moves = [c for c in rig.applied if c.target in ("space.x", "space.y")]
    assert len(moves) >= 6 and {c.source for c in moves} == {"status"}  # moves on the way
    weight = "Number(document.querySelector('#spacePad g[data-slot=\"{}\"]').dataset.weight)"
    # the page shows what the model hears: ambient up (× deck A's gain), deep house gone
    await page.wait_for(f"{weight.format(3)} > 0.7 && {weight.format(1)} === 0")

    rig.control(Change("scene.recall", "Club", glide=0.0, source="midi"))  # elsewhere
    await page.wait_for("document.getElementById('spacePad').dataset.position === '0.85,0.85'")
    cx = "Math.round(Number(document.querySelector('#spacePad .me').getAttribute('cx')))"
    await page.wait_for(f"{cx} === 85")  # the dot follows the position
    await page.screenshot(tmp_path / "space_pad.png")
