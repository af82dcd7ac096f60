#!/bin/bash
# Install phonesim on a Raspberry Pi (Raspberry Pi OS / Debian 12) as a service.
#
#   sudo bash deploy/install.sh            # from a checkout of the repository
#   sudo bash deploy/install.sh --dry-run  # print what would be done
#
# What it does (idempotent: run it again after a `git pull` to upgrade):
#   1. Debian packages PyAudio needs (PortAudio) and sox/espeak-ng for the prompts;
#   2. a system user "phonesim" in the groups dialout (Pico keypad), input (HID
#      keypad) and audio (USB headset);
#   3. a virtualenv in /opt/phonesim/venv with phonesim and its audio/hid extras;
#   4. the udev rules for the keypads, the systemd units, and an example
#      /etc/phonesim/phone1.toml (never overwritten);
#   5. systemctl daemon-reload.  It enables nothing: that is your choice, e.g.
#        sudo systemctl enable --now phonesim-phone@phone1.service
#
# DESTDIR=/some/dir installs the files under that directory and skips everything
# that changes the running system (packages, users, udev, systemctl): used by the
# tests and for building an image.
set -euo pipefail

DRY_RUN=0
for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY_RUN=1 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option '$arg' (expected --dry-run or --help)" >&2; exit 2 ;;
    esac
done

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DESTDIR="${DESTDIR:-}"
PREFIX="${PREFIX:-/opt/phonesim}"
SERVICE_USER="${SERVICE_USER:-phonesim}"
DEBS="python3-venv python3-dev gcc portaudio19-dev libportaudio2 libasound2-plugins alsa-utils espeak-ng sox"

run() {
    if [ "$DRY_RUN" = 1 ]; then echo "+ $*"; else "$@"; fi
}

system() {  # a step that changes the running system: not with DESTDIR
    if [ -n "$DESTDIR" ]; then echo "skipped (DESTDIR set): $*"; else run "$@"; fi
}

if [ -z "$DESTDIR" ] && [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (sudo), or set DESTDIR to stage the files" >&2
    exit 1
fi

# 1. packages
system apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends $DEBS

# 2. the service user and its groups
if [ -z "$DESTDIR" ] && ! id "$SERVICE_USER" >/dev/null 2>&1; then
    run useradd --system --home-dir /var/lib/phonesim --shell /usr/sbin/nologin "$SERVICE_USER"
fi
system usermod -aG dialout,input,audio "$SERVICE_USER"

# 3. the virtualenv
if [ -z "$DESTDIR" ]; then
    run python3 -m venv "$PREFIX/venv"
    run "$PREFIX/venv/bin/pip" install -q --upgrade pip
    run "$PREFIX/venv/bin/pip" install -q "$SRC[audio,hid]"
    run install -m 0644 "$SRC/README.md" "$PREFIX/README.md"
fi

# 4. files
run install -d "$DESTDIR/etc/udev/rules.d" "$DESTDIR/etc/systemd/system" "$DESTDIR/etc/phonesim"
run install -m 0644 "$SRC/deploy/60-phonesim-keypads.rules" "$DESTDIR/etc/udev/rules.d/"
run install -m 0644 "$SRC/deploy/phonesim-phone@.service" "$DESTDIR/etc/systemd/system/"
run install -m 0644 "$SRC/deploy/phonesim-kiosk.service" "$DESTDIR/etc/systemd/system/"
run install -m 0644 "$SRC/deploy/phonesim-facility.service" "$DESTDIR/etc/systemd/system/"
for name in phone1 kiosk; do
    if [ ! -e "$DESTDIR/etc/phonesim/$name.toml" ]; then
        run install -m 0644 "$SRC/deploy/phonesim.toml" "$DESTDIR/etc/phonesim/$name.toml"
    else
        echo "kept $DESTDIR/etc/phonesim/$name.toml"
    fi
done
if [ ! -e "$DESTDIR/etc/phonesim/facility.toml" ]; then
    run install -m 0644 "$SRC/deploy/facility.toml" "$DESTDIR/etc/phonesim/facility.toml"
else
    echo "kept $DESTDIR/etc/phonesim/facility.toml"
fi

# 5. reload
system udevadm control --reload
system udevadm trigger --subsystem-match=tty --subsystem-match=input
system systemctl daemon-reload

echo "phonesim installed.  Next:"
echo "  phonesim devices                      # find the headset's name and the keypad"
echo "  edit /etc/phonesim/phone1.toml        # devices.audio, devices.keypad"
echo "  sudo systemctl enable --now phonesim-phone@phone1.service"
echo "  (or, for all of this host's terminals in one process: /etc/phonesim/facility.toml with"
echo "   [[terminals]] tables, then: sudo systemctl enable --now phonesim-facility.service)"
