#!/usr/bin/env bash
# orchestration.sh [RUNS] - project orchestration timings, rcompose beside docker compose v2 and
# podman-compose, side by side in one hyperfine run per scenario (default 10 runs each):
#  a) cold `up -d --wait` of compose-examples/three-tier   prepare: full reset (down -v, leftovers)
#  b) no-op `up -d` while everything is up
#  c) `ps` of the running project
#  d) `down -v` of the running project
#  e) cold `up -d` of bench/projects/fifty (50 services) + wait until all 50 are running
#  f) `down` of the running 50-service project
# After each engine's runs, the end state is checked (up: all running and web answering; down:
# nothing left), so a peer that exits 0 on failure cannot post a fast time.
#
# Engines (ENGINES="rcompose compose-v2 podman" by default; a missing peer is skipped with a message):
#  rcompose    ${RCOMPOSE:-$CARGO_TARGET_DIR/release/rcompose} with its own --root/--run-root under a
#              temp dir, cgroup parent and address pool (RCOMPOSE_ADDRESS_POOLS, default
#              10.251.0.0/16/24), the busybox image loaded with `image load` (lab
#              images/busybox-docker.tar, else dev/busybox-image). Fails at once if it has no `up`.
#  compose-v2  docker-compose-v2 (lab install-compose-v2.sh) against the lab dockerd (start-dockerd.sh,
#              started if not running; never stopped here: others may use it).
#  podman      podman-compose 1.0.3 (lab setup-podman.sh). It has no `--wait`: (a) is `up -d` + an
#              explicit wait (3 running + web answering); it ignores depends_on conditions, its
#              healthchecks never run (no systemd timers), it sleeps 1 s after each container, and
#              `down -v` leaves the network (the reset removes it).
# Output: hyperfine tables, a summary with ratios (peer / rcompose), and OUT/orchestration.md, a
# snippet for BENCHMARKS.md (OUT defaults to /tmp/rcompose-orchestration-DATE; raw JSON beside it).
# Usage: bench/orchestration.sh [RUNS]      e.g. ENGINES="compose-v2 podman" bench/orchestration.sh 3
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true   # bash 5.2: keep '&' literal in ${x//pat/rep}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
self="$here/$(basename "${BASH_SOURCE[0]}")"
root="$(cd "$here/.." && pwd)"
lab="${LAB:-$(cd "$root/.." && pwd)/shared/lab}"
THREE_TIER="$root/compose-examples/three-tier/compose.yaml"
FIFTY="$here/projects/fifty/compose.yaml"
DOCKER=/usr/bin/docker   # Debian's client for dockerd 20.10 (a newer CLI may come first on PATH)

say() { echo "== $*" >&2; }
die() { echo "orchestration.sh: $*" >&2; exit 1; }

# --- engine adapters -------------------------------------------------------------------------
# engine_vars ENGINE KIND: sets C (compose command line), P (project name), N (long-running
# containers when up) and PORT (web's published port, three-tier only) from the exported settings.
engine_vars() {
  local engine=$1 kind=$2 file
  case "$kind" in
    three-tier) file=$THREE_TIER; N=3 ;;
    fifty) file=$FIFTY; N=50 ;;
    *) die "unknown project kind $kind" ;;
  esac
  case "$engine" in
    rcompose)
      P="orch-$kind-rc"; PORT=$PORT_RC
      C="env IMAGE=$IMAGE_RC WEB_PORT=$PORT RCOMPOSE_CGROUP_PARENT=$RC_CGROUP RCOMPOSE_ADDRESS_POOLS=$RC_POOLS $RC --root $ORCH_WORK/root --run-root $ORCH_WORK/run -p $P -f $file" ;;
    compose-v2)
      P="orch-$kind-v2"; PORT=$PORT_V2
      C="env DOCKER_HOST=unix:///var/run/docker.sock IMAGE=$IMAGE_V2 WEB_PORT=$PORT docker-compose-v2 -p $P -f $file" ;;
    podman)
      P="orch-$kind-pc"; PORT=$PORT_PC
      C="env IMAGE=$IMAGE_PC WEB_PORT=$PORT podman-compose -p $P -f $file" ;;
    *) die "unknown engine $engine" ;;
  esac
}

# Containers of project P in state running (rcompose: through its own ps).
running_count() {
  case "$1" in
    rcompose) $C ps -q --status running 2>/dev/null | grep -c . || true ;;
    compose-v2) $DOCKER ps -q --filter "label=com.docker.compose.project=$P" --filter status=running | grep -c . || true ;;
    podman) podman ps -q --filter "label=com.docker.compose.project=$P" --filter status=running | grep -c . || true ;;
  esac
}

# All containers of project P, whatever their state.
all_count() {
  case "$1" in
    rcompose) $C ps -a -q 2>/dev/null | grep -c . || true ;;
    compose-v2) $DOCKER ps -aq --filter "label=com.docker.compose.project=$P" | grep -c . || true ;;
    podman) podman ps -aq --filter "label=com.docker.compose.project=$P" | grep -c . || true ;;
  esac
}

# Up means: N running and, for three-tier, web answering on its published port.
is_up() {
  local engine=$1 kind=$2
  [ "$(running_count "$engine")" -ge "$N" ] || return 1
  [ "$kind" = fifty ] || curl -fsS -m 1 -o /dev/null "http://127.0.0.1:$PORT/" 2>/dev/null
}

wait_up() {
  local engine=$1 kind=$2 deadline=$(( $(date +%s) + ${WAIT_TIMEOUT:-180} ))
  until is_up "$engine" "$kind"; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "$engine $kind: not up after ${WAIT_TIMEOUT:-180}s (running: $(running_count "$engine")/$N)" >&2; return 1; }
    sleep 0.02
  done
}

# Remove everything of the project: containers, volumes, network, also what a failed run left.
reset() {
  local engine=$1 kind=$2 ids
  $C down -v -t 1 >/dev/null 2>&1 || true
  case "$engine" in
    compose-v2)
      ids="$($DOCKER ps -aq --filter "label=com.docker.compose.project=$P")"
      [ -z "$ids" ] || $DOCKER rm -f $ids >/dev/null 2>&1 || true
      $DOCKER volume rm -f "${P}_dbdata" >/dev/null 2>&1 || true
      $DOCKER network rm "${P}_default" >/dev/null 2>&1 || true ;;
    podman)
      ids="$(podman ps -aq --filter "label=com.docker.compose.project=$P")"
      [ -z "$ids" ] || podman rm -f $ids >/dev/null 2>&1 || true
      podman volume rm -f "${P}_dbdata" >/dev/null 2>&1 || true
      podman network rm -f "${P}_default" >/dev/null 2>&1 || true ;;
  esac
}

# The project is up (started from scratch if it is not).
ensure_up() {
  local engine=$1 kind=$2
  is_up "$engine" "$kind" && return 0
  $C up -d >/dev/null 2>&1 || { echo "$engine: up -d of $kind failed" >&2; return 1; }
  wait_up "$engine" "$kind"
}

# Checked after each engine's runs (hyperfine --cleanup), then everything of the kind is reset.
check_then_reset() {
  local kind=$1 expect=$2 engine bad=0
  for engine in $ENGINES; do
    engine_vars "$engine" "$kind"
    case "$expect" in
      up) if [ "$(all_count "$engine")" -gt 0 ] && ! is_up "$engine" "$kind"; then
            echo "CHECK FAILED: $engine $kind not up after its runs (running $(running_count "$engine")/$N)" >&2; bad=1; fi ;;
      down) if [ "$(all_count "$engine")" -gt 0 ]; then
            echo "CHECK FAILED: $engine $kind: containers left after down" >&2; bad=1; fi ;;
    esac
    reset "$engine" "$kind"
  done
  return $bad
}

helper() {
  local action=$1; shift
  case "$action" in
    reset|ensure_up|wait_up) engine_vars "$1" "$2"; "$action" "$1" "$2" ;;
    check_then_reset) check_then_reset "$@" ;;
    *) die "unknown helper action $action" ;;
  esac
}
if [ "${1:-}" = --helper ]; then shift; helper "$@"; exit; fi

# --- preflight: which engines can run ------------------------------------------------------
RUNS="${1:-10}"
for tool in hyperfine jq curl ss; do command -v "$tool" >/dev/null || die "needs $tool (lab install-peers.sh installs hyperfine)"; done
ORCH_WORK="$(mktemp -d /tmp/rcompose-orch.XXXXXX)"
trap 'rm -rf "$ORCH_WORK"' EXIT   # until an engine has run anything (see cleanup below)
OUT="${OUT:-/tmp/rcompose-orchestration-$(date +%Y%m%d-%H%M%S)}"
RC="${RCOMPOSE:-${CARGO_TARGET_DIR:-$root/target}/release/rcompose}"
requested="${ENGINES:-rcompose compose-v2 podman}"
ENGINES=""
notes=()

free_port() {  # first port from $1 up that nothing listens on
  local p=$1
  while [ -n "$(ss -Hltn "sport = :$p")" ]; do p=$((p + 1)); done
  echo "$p"
}
PORT_RC=$(free_port 18181); PORT_V2=$(free_port $((PORT_RC + 1))); PORT_PC=$(free_port $((PORT_V2 + 1)))

for engine in $requested; do
  case "$engine" in
    rcompose)
      [ -x "$RC" ] || die "rcompose: no binary at $RC (cargo build --release, or set RCOMPOSE=...)"
      for sub in up down ps; do
        "$RC" "$sub" --help >/dev/null 2>&1 || die "rcompose: $RC has no \`$sub\` command yet (orchestration not merged?); run the peers alone with ENGINES=\"compose-v2 podman\""
      done
      R=("$RC" --root "$ORCH_WORK/root" --run-root "$ORCH_WORK/run")
      if [ -f "$lab/images/busybox-docker.tar" ]; then
        "${R[@]}" image load -i "$lab/images/busybox-docker.tar" >/dev/null || die "rcompose: image load failed"
      else
        RCOMPOSE="$RC" "$root/dev/busybox-image" "$ORCH_WORK/root" >/dev/null || die "rcompose: dev/busybox-image failed"
      fi
      IMAGE_RC=lab/busybox:1
      notes+=("rcompose: $("$RC" version --short 2>/dev/null || echo '?') ($RC)")
      ENGINES+=" rcompose" ;;
    compose-v2)
      if ! command -v docker-compose-v2 >/dev/null; then say "SKIP compose-v2: docker-compose-v2 not installed (lab install-compose-v2.sh)"; continue; fi
      if ! $DOCKER info >/dev/null 2>&1 && [ -x "$lab/start-dockerd.sh" ]; then "$lab/start-dockerd.sh" start >&2 || true; fi
      if ! $DOCKER info >/dev/null 2>&1; then say "SKIP compose-v2: no dockerd answering (lab start-dockerd.sh)"; continue; fi
      IMAGE_V2=""
      for ref in lab/busybox:1 127.0.0.1:5000/lab/busybox:1; do
        if $DOCKER image inspect "$ref" >/dev/null 2>&1; then IMAGE_V2=$ref; break; fi
      done
      if [ -z "$IMAGE_V2" ] && [ -f "$lab/images/busybox-docker.tar" ]; then
        $DOCKER load -q -i "$lab/images/busybox-docker.tar" >/dev/null && IMAGE_V2=lab/busybox:1
      fi
      [ -n "$IMAGE_V2" ] || { say "SKIP compose-v2: lab/busybox:1 not in dockerd (lab start-dockerd.sh loads it)"; continue; }
      notes+=("docker compose $(docker-compose-v2 version --short), dockerd $($DOCKER version --format '{{.Server.Version}}')")
      ENGINES+=" compose-v2" ;;
    podman)
      if ! command -v podman-compose >/dev/null || ! command -v podman >/dev/null; then say "SKIP podman: podman-compose not installed (lab install-peers.sh)"; continue; fi
      IMAGE_PC=""
      for pass in 1 2; do
        for ref in 127.0.0.1:5000/lab/busybox:1 docker.io/lab/busybox:1; do
          if podman image exists "$ref" 2>/dev/null; then IMAGE_PC=$ref; break 2; fi
        done
        [ "$pass" = 1 ] && [ -x "$lab/setup-podman.sh" ] && { "$lab/setup-podman.sh" >&2 || true; }
      done
      [ -n "$IMAGE_PC" ] || { say "SKIP podman: no lab/busybox:1 in podman (lab setup-podman.sh)"; continue; }
      notes+=("podman-compose $(podman-compose version 2>/dev/null | sed -n 's/^podman-compose[a-z]* version *//p' | head -1), podman $(podman version --format '{{.Client.Version}}'): no --wait (explicit wait: 3 running + web answering), depends_on conditions ignored, healthchecks never run (no systemd), 1 s sleep after each container, \`down -v\` leaves the network")
      ENGINES+=" podman" ;;
    *) die "unknown engine $engine (rcompose, compose-v2, podman)" ;;
  esac
done
ENGINES="${ENGINES# }"
[ -n "$ENGINES" ] || die "no engine available"
# rcompose's own cgroup parent and address pool: other rcompose instances may run on this machine
RC_CGROUP="rcompose-orch-${ORCH_WORK##*.}"
RC_POOLS="${RCOMPOSE_ADDRESS_POOLS:-10.251.0.0/16/24}"
export RC ORCH_WORK ENGINES RC_CGROUP RC_POOLS PORT_RC PORT_V2 PORT_PC IMAGE_RC="${IMAGE_RC:-}" IMAGE_V2="${IMAGE_V2:-}" IMAGE_PC="${IMAGE_PC:-}"

cleanup() {
  for kind in three-tier fifty; do
    for engine in $ENGINES; do engine_vars "$engine" "$kind"; reset "$engine" "$kind"; done
  done
  rmdir /sys/fs/cgroup/*/"$RC_CGROUP" 2>/dev/null || true
  if grep -q "$ORCH_WORK" /proc/mounts; then
    echo "orchestration.sh: mounts left under $ORCH_WORK; not removing it" >&2
  else
    rm -rf "$ORCH_WORK"
  fi
}
trap cleanup EXIT
mkdir -p "$OUT"
say "engines: $ENGINES; $RUNS runs each; web ports rcompose $PORT_RC, compose-v2 $PORT_V2, podman $PORT_PC; results in $OUT"

# --- scenarios ---------------------------------------------------------------------------------
H="$self --helper"
# bench ID TITLE KIND EXPECT PREPARE_ACTION COMMAND_TEMPLATE: one hyperfine run, one command per
# engine; in the template, {C} is the engine's compose command line, {WAIT} its wait for "up" and
# {UP_WAIT} `up -d --wait` (podman-compose, which has no --wait: `up -d` and then {WAIT}).
bench() {
  local id=$1 title=$2 kind=$3 expect=$4 prep=$5 template=$6 args=() engine cmd wait up_wait
  for engine in $ENGINES; do
    engine_vars "$engine" "$kind"
    wait="$H wait_up $engine $kind"
    up_wait="$C up -d --wait >/dev/null 2>&1"
    [ "$engine" = podman ] && up_wait="$C up -d >/dev/null 2>&1 && $wait"
    cmd="${template//\{UP_WAIT\}/$up_wait}"; cmd="${cmd//\{C\}/$C}"; cmd="${cmd//\{WAIT\}/$wait}"
    args+=(-n "$engine" --prepare "$H $prep $engine $kind" "$cmd")
  done
  say "$id) $title"
  echo "$id	$title" >> "$OUT/scenarios.tsv"
  hyperfine --runs "$RUNS" --cleanup "$H check_then_reset $kind $expect" \
    --export-json "$OUT/$id.json" --export-markdown "$OUT/$id.md" "${args[@]}"
}

: > "$OUT/scenarios.tsv"
for engine in $ENGINES; do for kind in three-tier fifty; do engine_vars "$engine" "$kind"; reset "$engine" "$kind"; done; done
bench a "three-tier: cold \`up -d --wait\`" three-tier up reset "{UP_WAIT}"
bench b "three-tier: no-op \`up -d\`" three-tier up ensure_up "{C} up -d >/dev/null 2>&1"
bench c "three-tier: \`ps\`" three-tier up ensure_up "{C} ps >/dev/null 2>&1"
bench d "three-tier: \`down -v\`" three-tier down ensure_up "{C} down -v >/dev/null 2>&1"
bench e "50 services: cold \`up -d\` + all running" fifty up reset "{C} up -d >/dev/null 2>&1 && {WAIT}"
bench f "50 services: \`down\`" fifty down ensure_up "{C} down >/dev/null 2>&1"

# --- summary -------------------------------------------------------------------------------------
label() { case "$1" in rcompose) echo rcompose ;; compose-v2) echo "docker compose v2" ;; podman) echo podman-compose ;; esac; }
fmt() {  # seconds -> "123 ms" or "4.56 s"
  awk -v s="$1" 'BEGIN { if (s < 1) printf "%.0f ms", s * 1000; else printf "%.2f s", s }'
}
header="| scenario |"; rule="|---|"
for engine in $ENGINES; do header+=" $(label "$engine") |"; rule+="---|"; done
has_rc=0; [[ " $ENGINES " == *" rcompose "* ]] && has_rc=1
if [ $has_rc = 1 ]; then
  for engine in $ENGINES; do [ "$engine" = rcompose ] || { header+=" $(label "$engine") / rcompose |"; rule+="---|"; }; done
fi
{
  echo "## Orchestrating a project: \`up\`, \`ps\`, \`down\`"
  echo
  echo "Command: \`bench/orchestration.sh $RUNS\` ($(date +%F), $(nproc) vCPUs, kernel $(uname -r), load $(cut -d' ' -f1 /proc/loadavg) at the end)."
  echo "Projects: \`compose-examples/three-tier\` (db with a healthcheck, one-shot migrate, web on a published"
  echo "port, worker; a named volume) and \`bench/projects/fifty\` (50 busybox services, five depends_on chains)."
  echo "Median ± standard deviation of $RUNS runs; each engine's end state is checked after its runs."
  echo
  echo "$header"; echo "$rule"
  while IFS=$'\t' read -r id title; do
    row="| $title |"; rc_med=""
    declare -A med=()
    for engine in $ENGINES; do
      read -r m sd < <(jq -r --arg n "$engine" '.results[] | select(.command == $n) | "\(.median) \(.stddev // 0)"' "$OUT/$id.json")
      med[$engine]=$m
      row+=" $(fmt "$m") ± $(fmt "$sd") |"
    done
    if [ $has_rc = 1 ]; then
      rc_med=${med[rcompose]}
      for engine in $ENGINES; do
        [ "$engine" = rcompose ] || row+=" $(awk -v p="${med[$engine]}" -v r="$rc_med" 'BEGIN { printf "%.1f×", p / r }') |"
      done
    fi
    unset med
    echo "$row"
  done < "$OUT/scenarios.tsv"
  echo
  echo "Versions and limits:"
  for n in "${notes[@]}"; do echo "- $n"; done
} > "$OUT/orchestration.md"
echo
cat "$OUT/orchestration.md"
echo
say "markdown for BENCHMARKS.md: $OUT/orchestration.md (hyperfine JSON/markdown per scenario beside it)"
