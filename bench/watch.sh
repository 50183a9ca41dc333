#!/usr/bin/env bash
# watch.sh [EDITS] - latency of `develop.watch` sync: from a file write on the host to the new
# content being readable inside the container, for rcompose and docker compose v2 on the same
# project (default 100 edits each).
#
# The project (generated under a temp dir): one busybox service whose main process polls
# /app/probe.txt every millisecond with shell builtins (`read`, no fork per poll) and prints
# `seen N` when the content changes; a `sync` rule maps ./src to /app. The host writes N into
# src/probe.txt (in place, as an editor saving a small file does), noting the time of the write
# ($EPOCHREALTIME, no fork), then waits GAP seconds (so edits never batch together) before the
# next. Latency = log timestamp of `seen N` (taken when the container's output line reaches the
# log, engine side, for both engines) - time of the write. Edits the poller never saw count as
# misses. Reported: median, p95, max, misses.
#
# Engines (ENGINES="rcompose compose-v2" by default):
#  rcompose    ${RCOMPOSE:-$CARGO_TARGET_DIR/release/rcompose} with its own --root/--run-root in
#              the temp dir, the lab busybox image loaded (images/busybox-docker.tar).
#  compose-v2  docker-compose-v2 `watch` against the lab dockerd (started with the lab script if
#              not running; never stopped here), image lab/busybox:1 loaded there by that script.
# GAP_RC (default 0.3 s) and GAP_V2 (default 1.5 s: docker compose waits 500 ms for quiet).
# Output: a table on stdout and OUT/watch.md (OUT defaults to /tmp/rcompose-watch-DATE).
# Usage: bench/watch.sh [EDITS]        e.g. ENGINES=rcompose bench/watch.sh 20
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
lab="${LAB:-$(cd "$root/.." && pwd)/shared/lab}"
EDITS="${1:-100}"
ENGINES="${ENGINES:-rcompose compose-v2}"
GAP_RC="${GAP_RC:-0.3}"
GAP_V2="${GAP_V2:-1.5}"
RC="${RCOMPOSE:-${CARGO_TARGET_DIR:-$root/target}/release/rcompose}"
OUT="${OUT:-/tmp/rcompose-watch-$(date +%Y%m%d-%H%M%S)}"
DOCKER=/usr/bin/docker
# The compose binary itself: the PyPI wrapper does not pass Ctrl-C on.
DC="${DOCKER_COMPOSE:-$(ls /opt/compose-v2/lib/python3*/site-packages/compose/docker-compose 2>/dev/null | head -1)}"
DC="${DC:-docker-compose-v2}"
WORK="$(mktemp -d /tmp/rcompose-watch-bench.XXXXXX)"
mkdir -p "$OUT"

say() { echo "== $*" >&2; }
die() { echo "watch.sh: $*" >&2; exit 1; }

WATCH_PID=""
cleanup() {
  [ -n "$WATCH_PID" ] && kill -TERM "$WATCH_PID" 2>/dev/null && wait "$WATCH_PID" 2>/dev/null || true
  if [ -x "$RC" ] && [ -d "$WORK/rc" ]; then
    (cd "$WORK/rc" && rc down -t 0 >/dev/null 2>&1) || true
  fi
  if [ -d "$WORK/v2" ]; then
    (cd "$WORK/v2" && $DC -p watchbench-v2 down -t 0 >/dev/null 2>&1) || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

rc() {
  RCOMPOSE_CGROUP_PARENT=rcompose-watchbench RCOMPOSE_ADDRESS_POOLS="${RC_POOLS:-10.252.0.0/16/24}" \
    "$RC" --root "$WORK/state" --run-root "$WORK/run" -p watchbench-rc "$@"
}
# rc_exec: the same, replacing the (background) subshell, so that $! is rcompose itself.
rc_exec() {
  RCOMPOSE_CGROUP_PARENT=rcompose-watchbench RCOMPOSE_ADDRESS_POOLS="${RC_POOLS:-10.252.0.0/16/24}" \
    exec "$RC" --root "$WORK/state" --run-root "$WORK/run" -p watchbench-rc "$@"
}

# make_project DIR: the polling service and its sync rule.
make_project() {
  mkdir -p "$1/src"
  echo 0 > "$1/src/probe.txt"
  cat > "$1/compose.yaml" <<'EOF'
services:
  web:
    image: lab/busybox:1
    init: true
    command:
      - sh
      - -c
      - |
        last=""
        while :; do
          v=""
          read -r v < /app/probe.txt 2>/dev/null
          if [ "$$v" != "$$last" ]; then echo "seen $$v"; last="$$v"; fi
          usleep 1000
        done
    develop:
      watch:
        - path: ./src
          action: sync
          target: /app
EOF
}

# edit DIR GAP WRITES: EDITS writes of 1..EDITS, each time noted in WRITES as "N SECONDS".
edit() {
  local dir=$1 gap=$2 writes=$3 i
  : > "$writes"
  for i in $(seq 1 "$EDITS"); do
    echo "$i $EPOCHREALTIME" >> "$writes"
    echo "$i" > "$dir/src/probe.txt"
    sleep "$gap"
  done
}

# wait_for FILE TEXT: until FILE has a line containing TEXT (60 s at most).
wait_for() {
  for _ in $(seq 600); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  die "no '$2' in $1: $(cat "$1")"
}

# latencies WRITES LOGS: one latency in ms per edit seen; LOGS has lines "... <RFC3339 UTC> seen N".
latencies() {
  awk -v writes="$1" '
    function sod(ts,   t, h) { split(ts, t, "T"); split(t[2], h, ":"); sub("Z", "", h[3]); return h[1]*3600 + h[2]*60 + h[3] }
    BEGIN { while ((getline l < writes) > 0) { split(l, f, " "); w[f[1]] = f[2] % 86400 } }
    / seen [0-9]+$/ {
      n = $NF; if (!(n in w) || (n in done)) next
      for (i = 1; i <= NF; i++) if ($i ~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T/) ts = $i
      d = (sod(ts) - w[n] + 86400) % 86400; done[n] = 1
      printf "%.3f\n", d * 1000
    }' "$2" | sort -n
}

# stats FILE NAME: "| NAME | median | p95 | max | misses |"
stats() {
  local n; n=$(wc -l < "$1")
  [ "$n" -gt 0 ] || { echo "| $2 | - | - | - | $EDITS of $EDITS |"; return; }
  awk -v name="$2" -v edits="$EDITS" '{ v[NR] = $1 } END {
    med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    p95 = v[int(0.95 * NR + 0.999)]; if (p95 == "") p95 = v[NR]
    printf "| %s | %.1f ms | %.1f ms | %.1f ms | %d of %d |\n", name, med, p95, v[NR], edits - NR, edits
  }' "$1"
}

run_rcompose() {
  [ -x "$RC" ] || die "no rcompose binary at $RC (cargo build --release, or RCOMPOSE=...)"
  local dir="$WORK/rc"; make_project "$dir"; cd "$dir"
  rc image load -i "$lab/images/busybox-docker.tar" >/dev/null
  say "rcompose: $RC"
  rc_exec watch > "$WORK/rc-watch.log" 2>&1 & WATCH_PID=$!
  wait_for "$WORK/rc-watch.log" "Watch enabled"
  edit "$dir" "$GAP_RC" "$WORK/rc-writes"
  sleep 1
  # SIGTERM: a background job of a non-interactive shell has SIGINT ignored.
  kill -TERM "$WATCH_PID"; wait "$WATCH_PID" || true; WATCH_PID=""
  rc logs --timestamps web > "$WORK/rc-logs"
  latencies "$WORK/rc-writes" "$WORK/rc-logs" > "$OUT/rcompose.ms"
  rc down -t 0 >/dev/null 2>&1
  cd "$root"
}

run_compose_v2() {
  command -v "$DC" >/dev/null || { say "compose-v2: not installed (lab install-compose-v2.sh), skipped"; return; }
  "$lab/start-dockerd.sh" status >/dev/null 2>&1 || "$lab/start-dockerd.sh" start >&2
  local dir="$WORK/v2"; make_project "$dir"; cd "$dir"
  say "compose-v2: $($DC version)"
  $DC -p watchbench-v2 watch > "$WORK/v2-watch.log" 2>&1 & WATCH_PID=$!
  wait_for "$WORK/v2-watch.log" "Watch enabled"
  edit "$dir" "$GAP_V2" "$WORK/v2-writes"
  sleep 2
  kill -TERM "$WATCH_PID" 2>/dev/null || true; wait "$WATCH_PID" 2>/dev/null || true; WATCH_PID=""
  $DOCKER logs --timestamps watchbench-v2-web-1 > "$WORK/v2-logs" 2>&1
  latencies "$WORK/v2-writes" "$WORK/v2-logs" > "$OUT/compose-v2.ms"
  $DC -p watchbench-v2 down -t 0 >/dev/null 2>&1 || true
  cd "$root"
}

for e in $ENGINES; do
  case "$e" in
    rcompose) run_rcompose ;;
    compose-v2) run_compose_v2 ;;
    *) die "unknown engine $e" ;;
  esac
done

{
  echo "Command: \`bench/watch.sh $EDITS\` ($(date -u +%Y-%m-%d), load $(cut -d' ' -f1 /proc/loadavg); gaps: rcompose ${GAP_RC} s, docker compose ${GAP_V2} s)."
  echo
  echo "| engine | median | p95 | max | missed edits |"
  echo "|---|---|---|---|---|"
  [ -f "$OUT/rcompose.ms" ] && stats "$OUT/rcompose.ms" "rcompose watch"
  [ -f "$OUT/compose-v2.ms" ] && stats "$OUT/compose-v2.ms" "docker compose v2.40.3 watch (dockerd 20.10)"
} | tee "$OUT/watch.md"
if [ -s "$OUT/rcompose.ms" ] && [ -s "$OUT/compose-v2.ms" ]; then
  a=$(awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }' "$OUT/rcompose.ms")
  b=$(awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }' "$OUT/compose-v2.ms")
  echo | tee -a "$OUT/watch.md"
  awk -v a="$a" -v b="$b" 'BEGIN { printf "Median ratio: docker compose / rcompose = %.1fx\n", b / a }' | tee -a "$OUT/watch.md"
fi
