#!/usr/bin/env bash
# runtime.sh - container start latency: `rcompose container run --rm IMAGE true` (create + start +
# wait + remove, from the image store) beside `crun run` of an equivalent bundle, `podman run --rm`
# and `docker run --rm` (all without a network, as rcompose's container has only `lo`), plus the
# resident memory of a monitor process. Uses the peer lab in ../shared/lab (make-busybox-image.sh,
# setup-podman.sh, start-registry.sh, start-dockerd.sh must have run); peers that are missing are
# skipped. Usage: bench/runtime.sh [RUNS]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
lab="$(cd "$root/../shared/lab" && pwd)"
runs=${1:-30}
cargo build --release --manifest-path "$root/Cargo.toml" -q
rc="${CARGO_TARGET_DIR:-$root/target}/release/rcompose"
work="$(mktemp -d /tmp/rcb.XXXX)"
cleanup() { "$rc" --root "$work/s" --run-root "$work/r" container rm -f mon >/dev/null 2>&1 || true; crun delete -f rcb-crun >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
R=("$rc" --root "$work/s" --run-root "$work/r")
"${R[@]}" image load -i "$lab/images/busybox-docker.tar" >/dev/null
"${R[@]}" container run --rm lab/busybox:1 true

# an equivalent crun bundle: the same rootfs, crun's default spec, /bin/true
mkdir -p "$work/bundle"; cp -a "$lab/images/rootfs" "$work/bundle/rootfs"
( cd "$work/bundle" && crun spec && jq '.process.terminal=false | .process.args=["/bin/true"]' config.json > c && mv c config.json )

cmds=(-n "rcompose container run --rm (no network)" "${R[*]} container run --rm lab/busybox:1 true"
      -n "crun run (bundle)" "crun run --bundle $work/bundle rcb-crun")
IMAGE=127.0.0.1:5000/lab/busybox:1
if command -v podman >/dev/null && podman image exists "$IMAGE" 2>/dev/null; then
  cmds+=(-n "podman run --rm --network none" "podman run --rm --network none $IMAGE true")
fi
if docker info >/dev/null 2>&1; then
  docker image inspect "$IMAGE" >/dev/null 2>&1 || docker pull -q "$IMAGE" >/dev/null
  cmds+=(-n "docker run --rm --network none" "docker run --rm --network none $IMAGE true")
fi
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/runtime.json" "${cmds[@]}"
jq -r '.results[] | "\(.command)\tmedian \(.median*1000|.*10|round/10) ms\tmean \(.mean*1000|.*10|round/10) ms"' "$work/runtime.json"

# resident memory of one monitor (the per-container process that stays)
"${R[@]}" container run -d --name mon lab/busybox:1 sleep 60 >/dev/null
sleep 1
for pid in $(pgrep -f "__monitor.*$work"); do
  echo "monitor pid $pid: $(grep VmRSS /proc/$pid/status)"
done
