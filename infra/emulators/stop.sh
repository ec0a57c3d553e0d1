#!/usr/bin/env bash
# Stops the emulators started by start.sh: each process group it recorded
# (gcloud and the Java process under it), politely first, then by force.
# A directory start.sh made itself (no GOVERNOR_EMULATOR_DIR given) is removed.
#
#   infra/emulators/stop.sh [dir]     # dir defaults to $GOVERNOR_EMULATOR_DIR
set -uo pipefail

dir="${1:-${GOVERNOR_EMULATOR_DIR:-}}"
if [ -z "$dir" ] || [ ! -d "$dir" ]; then
  echo "stop.sh: no emulator directory (pass it, or set GOVERNOR_EMULATOR_DIR as start.sh prints)" >&2
  exit 1
fi

for name in pubsub firestore; do
  pidfile="$dir/$name.pid"
  [ -f "$pidfile" ] || continue
  pid="$(cat "$pidfile")"
  # setsid made the emulator's pid its process group id.
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 -- "-$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$pidfile"
done
if [ -f "$dir/.remove-on-stop" ]; then
  rm -rf -- "$dir"
  echo "stop.sh: emulators stopped; $dir removed" >&2
else
  echo "stop.sh: emulators in $dir stopped" >&2
fi
