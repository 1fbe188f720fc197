"""Write surfaces/promptbridge.json: an Open Stage Control session for the generic layout.

Four tabs, every widget on a native PromptBridge address (bridge/core/oscmap.py):

* Mix: 16 slot faders (``/slot/N/weight``, 0..2), crossfader, master volume.
* Space: the X/Y pad (``/space/xy``) and a z fader, over the weights the model hears.
* Config: bpm, density, brightness, temperature, guidance, top-k; mute toggles.
* Scenes: recall buttons 1..8 (``/scene/recall/N``), play/pause/stop, record.

Open Stage Control fills every property a widget leaves out with its default, so each
widget here names only what differs. Run: .venv/bin/python scripts/make_osc_session.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "surfaces" / "promptbridge.json"
CONFIG = (
    ("bpm", 60, 200),
    ("density", 0, 1),
    ("brightness", 0, 1),
    ("temperature", 0, 3),
    ("guidance", 0, 6),
    ("top_k", 1, 1000),
)


def fader(wid: str, label: str, address: str, lo: float, hi: float, **extra: Any) -> dict[str, Any]:
    return {
        "type": "fader",
        "id": wid,
        "label": label,
        "address": address,
        "range": {"min": lo, "max": hi},
        "design": "compact",
        **extra,
    }


def button(wid: str, label: str, address: str, mode: str = "tap") -> dict[str, Any]:
    # "tap" sends on (1) then off (0): the bridge acts on the press and ignores the release
    return {"type": "button", "id": wid, "label": label, "address": address, "mode": mode}


def panel(wid: str, layout: str, widgets: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"type": "panel", "id": wid, "layout": layout, "widgets": widgets, **extra}


def tab(wid: str, label: str, widgets: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "tab", "id": wid, "label": label, "layout": "vertical", "widgets": widgets}


def mix() -> dict[str, Any]:
    slots = [fader(f"slot_{n}", str(n), f"/slot/{n}/weight", 0, 2) for n in range(1, 17)]
    return tab(
        "mix",
        "Mix",
        [
            panel("slots", "horizontal", slots, expand=True),
            fader("crossfader", "crossfader", "/crossfader", 0, 1, horizontal=True),
            fader("master_volume", "master", "/master_volume", 0, 1, horizontal=True),
        ],
    )


def space() -> dict[str, Any]:
    meters = [
        fader(f"heard_{n}", str(n), f"/slot/{n}/effective", 0, 2, interaction=False)
        for n in range(1, 9)
    ]
    pad = {
        "type": "xy",
        "id": "space_xy",
        "label": "prompt space",
        "address": "/space/xy",
        "rangeX": {"min": 0, "max": 1},
        "rangeY": {"min": 0, "max": 1},
        "expand": True,
    }
    z = fader("space_z", "z (3D spaces)", "/space/z", 0, 1, horizontal=True)
    return tab("space", "Space", [pad, z, panel("heard", "horizontal", meters, height=120)])


def config() -> dict[str, Any]:
    faders = [fader(f"config_{n}", n, f"/config/{n}", lo, hi) for n, lo, hi in CONFIG]
    toggles = [
        button(f"toggle_{n}", n.replace("_", " "), f"/config/{n}", mode="toggle")
        for n in ("mute_bass", "mute_drums", "only_bass_and_drums")
    ]
    return tab(
        "config",
        "Config",
        [
            panel("config_faders", "horizontal", faders, expand=True),
            panel("mutes", "horizontal", toggles),
        ],
    )


def scenes() -> dict[str, Any]:
    recall = [button(f"scene_{n}", f"scene {n}", f"/scene/recall/{n}") for n in range(1, 9)]
    transport = [
        button("play", "play", "/playback/play"),
        button("pause", "pause", "/playback/pause"),
        button("stop", "stop", "/playback/stop"),
        button("record", "rec", "/record/toggle"),
    ]
    return tab(
        "scenes",
        "Scenes",
        [
            panel("scene_grid", "grid", recall, gridTemplate=4, expand=True),
            panel("transport", "horizontal", transport),
        ],
    )


def session() -> dict[str, Any]:
    return {
        "createdWith": "Open Stage Control",
        "version": "1.26.2",
        "type": "session",
        "content": {
            "type": "root",
            "id": "root",
            "tabs": [mix(), space(), config(), scenes()],
        },
    }


def widgets(node: dict[str, Any]) -> list[dict[str, Any]]:
    """Every widget of a session (depth first)."""
    out = []
    for child in node.get("widgets", []) + node.get("tabs", []):
        out.append(child)
        out += widgets(child)
    return out


if __name__ == "__main__":
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(session(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
