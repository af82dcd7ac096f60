#!/usr/bin/env bash
# A private PulseAudio server with null sinks, so PortAudio/PyAudio tests use a real
# audio path on machines with no sound card (CI, laptops without a headset).
#
#   eval "$(bash tests/audio_server.sh start)"   # exports PULSE_SERVER, PHONESIM_AUDIO_DIR, ...
#   bash tests/audio_server.sh stop "$PHONESIM_AUDIO_DIR"   # kills exactly the PIDs it started
#
# Sinks: "line" and "line2" at 48 kHz mono; "line" is the default sink and
# "line.monitor" the default source, so what a stream plays into the default
# output comes back from the default input.  Two `parec` keep-alives stop the
# idle null sink from sleeping in 2 s blocks (a first read would take ~1.9 s).
set -euo pipefail

start() {
  command -v pulseaudio >/dev/null || { echo "audio_server.sh: pulseaudio is not installed (apt-get install pulseaudio pulseaudio-utils libasound2-plugins)" >&2; exit 1; }
  local dir
  dir=$(mktemp -d /tmp/phonesim-pulse.XXXXXX)
  cat >"$dir/default.pa" <<PA
load-module module-native-protocol-unix auth-anonymous=1 socket=$dir/native
load-module module-null-sink sink_name=line  rate=48000 channels=1
load-module module-null-sink sink_name=line2 rate=48000 channels=1
set-default-sink line
set-default-source line.monitor
PA
  # Quiet ALSA: only the pulse PCM, no probing of cards that do not exist.
  cat >"$dir/asound.conf" <<ALSA
pcm.!default { type pulse }
ctl.!default { type pulse }
pcm.pulse { type pulse }
ctl.pulse { type pulse }
ALSA
  export HOME="$dir" XDG_RUNTIME_DIR="$dir" PULSE_RUNTIME_PATH="$dir" PULSE_STATE_PATH="$dir"
  setsid pulseaudio --daemonize=no -n -F "$dir/default.pa" --exit-idle-time=-1 \
      --disallow-exit=yes --realtime=no --high-priority=no --use-pid-file=no --disable-shm=yes \
      --log-target="file:$dir/pulse.log" </dev/null >/dev/null 2>&1 &
  echo $! >"$dir/pulseaudio.pid"
  export PULSE_SERVER="unix:$dir/native"
  for _ in $(seq 1 100); do
    pactl info >/dev/null 2>&1 && break
    sleep 0.05
  done
  pactl info >/dev/null 2>&1 || { echo "audio_server.sh: PulseAudio did not start; see $dir/pulse.log" >&2; exit 1; }
  setsid parec --latency-msec=10 -d line.monitor --raw </dev/null >/dev/null 2>&1 &
  echo $! >"$dir/keepalive1.pid"
  setsid parec --latency-msec=10 -d line2.monitor --raw </dev/null >/dev/null 2>&1 &
  echo $! >"$dir/keepalive2.pid"
  echo "export PULSE_SERVER='unix:$dir/native'"
  echo "export PHONESIM_AUDIO_DIR='$dir'"
  echo "export ALSA_CONFIG_PATH='/usr/share/alsa/alsa.conf:$dir/asound.conf'"
}

stop() {
  local dir="${1:-${PHONESIM_AUDIO_DIR:-}}"
  [ -n "$dir" ] && [ -d "$dir" ] || { echo "audio_server.sh stop: expected the server's folder, got '${dir}'" >&2; exit 1; }
  local pidfile pid
  for pidfile in "$dir"/keepalive1.pid "$dir"/keepalive2.pid "$dir"/pulseaudio.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

case "${1:-}" in
  start) start ;;
  stop) shift; stop "$@" ;;
  *) echo "usage: bash tests/audio_server.sh start | stop DIR" >&2; exit 2 ;;
esac
