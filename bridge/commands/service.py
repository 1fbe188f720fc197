"""``promptbridge service show|install``: the systemd unit for a headless rig. Writes files.

``show`` prints the unit; ``install`` writes it for the current user
(``~/.config/systemd/user/``, started with the user session; enable lingering to start on
boot) or, with ``--system``, to ``/etc/systemd/system/`` (needs root), and prints the
``systemctl`` commands to enable it. It never runs systemctl itself: that stays the
owner's decision.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from importlib import resources
from pathlib import Path

from bridge.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["show", "install"], help="print or install the unit")
    parser.add_argument("--rig", required=True, help="rig TOML file the service runs with")
    parser.add_argument("--system", action="store_true", help="system-wide unit (root)")
    parser.add_argument("--key-file", help="API key file for the lyria engine (mode 600)")
    parser.add_argument("--unit-dir", help="where to install the unit (default: per scope)")


def render_unit(rig: str, system: bool, key_file: str | None, executable: str) -> str:
    template = resources.files("bridge.data").joinpath("promptbridge.service").read_text()
    key_line = f"Environment=PROMPTBRIDGE_KEY_FILE={key_file}" if key_file else ""
    return template.format(
        exec=executable,
        rig=rig,
        key_line=key_line,
        wanted_by="multi-user.target" if system else "default.target",
    )


def _executable() -> str:
    found = shutil.which("promptbridge")
    return found or f"{sys.executable} -m bridge"


def run(args: argparse.Namespace) -> int:
    rig = str(Path(args.rig).expanduser().resolve())
    if not Path(rig).is_file():
        raise ConfigError(f"{rig}: rig file not found (write one first; see README)")
    unit = render_unit(rig, args.system, args.key_file, _executable())
    if args.action == "show":
        print(unit, end="")
        return 0
    default_dir = "/etc/systemd/system" if args.system else "~/.config/systemd/user"
    unit_dir = Path(args.unit_dir or default_dir).expanduser()
    unit_dir.mkdir(parents=True, exist_ok=True)
    target = unit_dir / "promptbridge.service"
    target.write_text(unit)
    scope = "" if args.system else " --user"
    print(f"wrote {target}")
    print(
        f"enable and start it:  systemctl{scope} daemon-reload && "
        f"systemctl{scope} enable --now promptbridge"
    )
    if not args.system:
        print("start at boot without a login:  sudo loginctl enable-linger $USER")
    return 0
