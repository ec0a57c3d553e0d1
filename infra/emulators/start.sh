#!/usr/bin/env bash
# Starts the installed Google Cloud emulators (Pub/Sub and Firestore) on
# loopback, waits until both answer, and prints the environment that points
# Google's clients at them:
#
#   eval "$(infra/emulators/start.sh)"     # then: npm test, npm start -- --backend gcp
#   infra/emulators/stop.sh                # stops them (by the process ids recorded here)
#
# Ports: PUBSUB_PORT and FIRESTORE_PORT, or free ones. Project: GOOGLE_CLOUD_PROJECT
# or "governor-test". Logs and pid files go to GOVERNOR_EMULATOR_DIR or a new
# temporary directory. Everything else is printed to stderr.
set -euo pipefail

# --firestore-only: just the Firestore emulator (a test that breaks one on purpose starts its own).
only_firestore=0
[ "${1:-}" = "--firestore-only" ] && only_firestore=1

project="${GOOGLE_CLOUD_PROJECT:-governor-test}"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
# A port given that something already listens on would have us wait for, and trust, that other server.
port_taken() {
  ! python3 -c 'import socket, sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}
pubsub_port="${PUBSUB_PORT:-$(free_port)}"
firestore_port="${FIRESTORE_PORT:-$(free_port)}"
while [ "$only_firestore" = 0 ] && [ "$firestore_port" = "$pubsub_port" ]; do
  [ -z "${FIRESTORE_PORT:-}" ] || { echo "start.sh: PUBSUB_PORT and FIRESTORE_PORT must differ" >&2; exit 1; }
  firestore_port="$(free_port)"
done
for port in $([ "$only_firestore" = 1 ] || echo "$pubsub_port") "$firestore_port"; do
  if port_taken "$port"; then
    echo "start.sh: port $port on 127.0.0.1 is taken; choose another (PUBSUB_PORT, FIRESTORE_PORT) or leave them unset for free ones" >&2
    exit 1
  fi
done

command -v gcloud >/dev/null || { echo "start.sh: gcloud is not installed; the emulators come with the Google Cloud SDK" >&2; exit 1; }
command -v java >/dev/null || { echo "start.sh: java is not installed; the emulators need a Java runtime" >&2; exit 1; }

if [ -n "${GOVERNOR_EMULATOR_DIR:-}" ]; then
  dir="$GOVERNOR_EMULATOR_DIR"
  mkdir -p "$dir"
else
  dir="$(mktemp -d "${TMPDIR:-/tmp}/governor-emulators-XXXXXX")"
  # A directory of our own making: stop.sh removes it, logs and all.
  touch "$dir/.remove-on-stop"
fi

# Each emulator in its own process group (setsid), so stop.sh can end gcloud and the Java process it starts together.
if [ "$only_firestore" = 0 ]; then
  setsid gcloud beta emulators pubsub start --host-port="127.0.0.1:$pubsub_port" --project="$project" --quiet \
    >"$dir/pubsub.log" 2>&1 < /dev/null &
  echo $! >"$dir/pubsub.pid"
fi
setsid gcloud emulators firestore start --host-port="127.0.0.1:$firestore_port" --quiet \
  >"$dir/firestore.log" 2>&1 < /dev/null &
echo $! >"$dir/firestore.pid"

# Stops whatever did start, keeps the logs for a look, and fails.
give_up() {
  rm -f "$dir/.remove-on-stop"
  "$(dirname "$0")/stop.sh" "$dir" >&2 || true
  echo "start.sh: logs kept in $dir" >&2
  exit 1
}

wait_for() {
  local name="$1" url="$2" log="$3" pidfile="$4"
  local deadline=$((SECONDS + ${GOVERNOR_EMULATOR_TIMEOUT_S:-90}))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "start.sh: the $name emulator exited; its log ($log) ends with:" >&2
      tail -n 20 "$log" >&2
      give_up
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "start.sh: the $name emulator did not answer $url in time; its log ($log) ends with:" >&2
      tail -n 20 "$log" >&2
      give_up
    fi
    sleep 0.2
  done
}
[ "$only_firestore" = 1 ] || wait_for Pub/Sub "http://127.0.0.1:$pubsub_port/v1/projects/$project/topics" "$dir/pubsub.log" "$dir/pubsub.pid"
wait_for Firestore "http://127.0.0.1:$firestore_port/" "$dir/firestore.log" "$dir/firestore.pid"

echo "start.sh: Firestore on 127.0.0.1:$firestore_port$([ "$only_firestore" = 1 ] || echo ", Pub/Sub on 127.0.0.1:$pubsub_port") (project $project; logs in $dir)" >&2
echo "export GOVERNOR_EMULATOR_DIR='$dir'"
# Against emulators there is no Google metadata server to ask for credentials.
echo "export METADATA_SERVER_DETECTION='none'"
echo "export GOOGLE_CLOUD_PROJECT='$project'"
[ "$only_firestore" = 1 ] || echo "export PUBSUB_EMULATOR_HOST='127.0.0.1:$pubsub_port'"
echo "export FIRESTORE_EMULATOR_HOST='127.0.0.1:$firestore_port'"
