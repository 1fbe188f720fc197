#!/usr/bin/env bash
# PromptBridge set-up and tasks on a fresh Debian/Raspberry Pi OS machine.
#   ./dev.sh demo [ARGS]   install what the daemon needs, then play the demo (embedded engine)
#   ./dev.sh test [ARGS]   install what the tests need, then ruff, mypy and pytest
#   ./dev.sh bench         install, then run every benchmark and print one table
# apt packages are installed only when missing (with sudo when not root).
set -euo pipefail
cd "$(dirname "$0")"

VENV=${PROMPTBRIDGE_VENV:-.venv}
PY=${PYTHON:-python3}

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "dev.sh: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

venv() {
    local extras=$1
    if [ ! -x "$VENV/bin/python" ]; then
        "$PY" -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; "$PY" -m venv "$VENV"; }
    fi
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install -q -e ".$extras"
}

cmd=${1:-help}
shift || true
case "$cmd" in
    demo)
        apt_install libportaudio2 python3-venv
        venv ""
        exec "$VENV/bin/promptbridge" demo "$@"
        ;;
    test)
        apt_install libportaudio2 jackd2 python3-venv chromium
        # the GPL Link extra too: a 0.2 MB wheel (x86-64 and aarch64), so its tests run
        venv "[test,link]"
        # magenta-rt's own 1.4 MB wheel, without its 1.2 GB of JAX/TFLite dependencies: enough
        # for the test that holds our fake model to the real classes' signatures.
        "$VENV/bin/python" -m pip install -q --no-deps "magenta-rt==2.0.3"
        "$VENV/bin/ruff" check bridge tests bench
        "$VENV/bin/mypy"
        exec "$VENV/bin/python" -m pytest -q "$@"
        ;;
    bench)
        apt_install libportaudio2 jackd2 python3-venv
        venv "[test]"
        exec "$VENV/bin/python" bench/run_all.py "$@"
        ;;
    *)
        sed -n '2,6p' "$0"
        exit 2
        ;;
esac
