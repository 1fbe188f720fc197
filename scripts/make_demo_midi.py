"""Write bridge/data/demo.mid: the scripted knob moves that ``promptbridge demo`` performs.

The performance targets the generic profile (mappings/generic.toml): CC 0-15 prompt
weights, CC 16 density, CC 17 brightness, CC 21 bpm, notes 36 play, 39/40 mute toggles.
Text meta events carry the narration the demo prints as it reaches them.
Run: .venv/bin/python scripts/make_demo_midi.py
"""

from __future__ import annotations

from pathlib import Path

import mido

TICKS = 480  # per beat; tempo 120 bpm -> 960 ticks per second
OUT = Path(__file__).resolve().parent.parent / "bridge" / "data" / "demo.mid"


def build() -> list[tuple[float, mido.Message | mido.MetaMessage]]:
    events: list[tuple[float, mido.Message | mido.MetaMessage]] = []

    def say(t: float, text: str) -> None:
        events.append((t, mido.MetaMessage("text", text=text)))

    def sweep(t0: float, t1: float, cc: int, v0: int, v1: int, rate: float = 40.0) -> None:
        steps = max(1, int((t1 - t0) * rate))
        for i in range(steps + 1):
            value = round(v0 + (v1 - v0) * i / steps)
            events.append(
                (
                    t0 + (t1 - t0) * i / steps,
                    mido.Message("control_change", control=cc, value=value),
                )
            )

    def press(t: float, note: int) -> None:
        events.append((t, mido.Message("note_on", note=note, velocity=110)))
        events.append((t + 0.1, mido.Message("note_off", note=note, velocity=0)))

    say(0.0, "knob 1 (CC 0) brings in prompt slot 1, pad 36 presses PLAY")
    sweep(0.0, 1.0, 0, 0, 90)
    press(1.2, 36)
    say(5.0, "knob 2 (CC 1) fades in prompt slot 2 over 5 s")
    sweep(5.0, 10.0, 1, 0, 100)
    say(12.0, "CC 16 raises density")
    sweep(12.0, 16.0, 16, 20, 115)
    say(18.0, "CC 17 sweeps brightness down and up")
    sweep(18.0, 21.0, 17, 100, 15)
    sweep(21.0, 24.0, 17, 15, 110)
    say(26.0, "pad 40 mutes the drums")
    press(26.0, 40)
    say(30.0, "pad 40 brings the drums back")
    press(30.0, 40)
    say(32.0, "knob 1 fades slot 1 out while knob 3 (CC 2) brings in slot 3")
    sweep(32.0, 38.0, 0, 90, 0)
    sweep(32.0, 38.0, 2, 0, 110)
    say(40.0, "pad 39 mutes the bass")
    press(40.0, 39)
    say(44.0, "pad 39 brings the bass back; CC 21 moves the tempo")
    press(44.0, 39)
    sweep(44.0, 46.0, 21, 50, 70)
    say(50.0, "knob 4 (CC 3) adds slot 4 on top")
    sweep(50.0, 54.0, 3, 0, 80)
    say(58.0, "end of the script: the music keeps playing until --seconds runs out")
    events.append((60.0, mido.MetaMessage("marker", text="end")))
    events.sort(key=lambda e: e[0])
    return events


def main() -> None:
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=500_000))
    track.append(mido.MetaMessage("track_name", name="PromptBridge demo"))
    last = 0
    for t, msg in build():
        tick = round(t * 2 * TICKS)
        track.append(msg.copy(time=tick - last))
        last = tick
    mid = mido.MidiFile(ticks_per_beat=TICKS)
    mid.tracks.append(track)
    mid.save(OUT)
    print(f"wrote {OUT} ({mid.length:.1f} s, {len(track)} events)")


if __name__ == "__main__":
    main()
