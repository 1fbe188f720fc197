"""The baseline bridge: the short script most people write first. MIDI and network I/O.

A mido callback on the controller's port calls google-genai's
``AsyncMusicSession.set_weighted_prompts`` for EVERY control change (CC 1 and CC 2 set
the weights of the prompts "sweep" and "period"), with no coalescing
and no rate limit, and drains the audio it is sent. ``bench/staleness.py`` runs it beside
PromptBridge against the same loopback server to show what coalescing buys.

    python bench/baseline_bridge.py --port NAME --url https://127.0.0.1:PORT

Prints ``ready`` once the session is open and the MIDI port is listening; stops on
SIGTERM. The key is a dummy: the server is on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import warnings
from typing import Any

import mido
from google import genai
from google.genai import types

KEY = "baseline-bench-key"
# CC number → prompt text; a CC value 0..127 sets its weight 0..2, the pad stays at 1
KNOBS = {1: "sweep", 2: "period"}


def prompts_for(knobs: dict[int, int]) -> list[types.WeightedPrompt]:
    """The whole prompt set from every knob's last value (weights of 0 left out)."""
    prompts = [types.WeightedPrompt(text="pad", weight=1.0)]
    for cc, value in knobs.items():
        if value > 0:
            prompts.append(types.WeightedPrompt(text=KNOBS[cc], weight=value / 127 * 2))
    return prompts


async def drain(session: Any) -> None:
    """A bridge plays what it receives: read every server message."""
    async for _ in session.receive():
        pass


async def bridge(port_name: str, url: str) -> None:
    options = types.HttpOptions(base_url=url, api_version="v1alpha")
    client = genai.Client(api_key=KEY, http_options=options)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with client.aio.live.music.connect(model="models/lyria-realtime-exp") as session:
        knobs: dict[int, int] = {}
        await session.set_weighted_prompts(prompts=prompts_for(knobs))
        await session.play()
        reader = asyncio.create_task(drain(session))

        def on_message(message: mido.Message) -> None:  # rtmidi's thread
            if message.type == "control_change" and message.control in KNOBS:
                knobs[message.control] = message.value
                coro = session.set_weighted_prompts(prompts=prompts_for(knobs))
                asyncio.run_coroutine_threadsafe(coro, loop)

        backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True)
        names = [n for n in backend.get_input_names() if port_name in n]
        if not names:
            raise SystemExit(f"no MIDI input matching {port_name!r}")
        with backend.open_input(names[0], callback=on_message):
            print("ready", flush=True)
            await stop.wait()
        reader.cancel()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", required=True, help="substring of the MIDI input's name")
    parser.add_argument("--url", required=True, help="https://HOST:PORT of the server")
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SDK's "experimental" warning
        asyncio.run(bridge(args.port, args.url))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
