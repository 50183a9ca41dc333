#!/usr/bin/env bash
# build.sh - image builds of compose-examples/build (a two-stage Dockerfile on the lab busybox,
# plus FILES generated source files in its context): a cold build (`--no-cache`), a fully cached
# rebuild and a rebuild after a one-line edit of a source file, `rcompose build` beside `docker
# build` of the same Dockerfile and context (the lab dockerd; its image store must hold
# lab/busybox:1, which ../shared/lab/start-dockerd.sh loads). docker is skipped when dockerd is
# not running. Usage: bench/build.sh [RUNS] [FILES]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
lab="$(cd "$root/../shared/lab" && pwd)"
runs=${1:-20}
files=${2:-500}
cargo build --release --manifest-path "$root/Cargo.toml" -q
rc="${CARGO_TARGET_DIR:-$root/target}/release/rcompose"
work="$(mktemp -d /tmp/rcbb.XXXX)"
export RCOMPOSE_ROOT="$work/s" RCOMPOSE_RUN_ROOT="$work/r"
export RCOMPOSE_CGROUP_PARENT="rcbench-build-$$" RCOMPOSE_ADDRESS_POOLS=10.251.0.0/16/24
docker_ok=false
if docker info >/dev/null 2>&1 && docker image inspect lab/busybox:1 >/dev/null 2>&1; then
  docker_ok=true
fi
cleanup() {
  rm -rf "$work"
  for c in /sys/fs/cgroup/*/"$RCOMPOSE_CGROUP_PARENT"; do rmdir "$c" 2>/dev/null || true; done
  if $docker_ok; then docker rmi -f rcbench-build >/dev/null 2>&1 || true; docker builder prune -f >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

cp -a "$root/compose-examples/build" "$work/p"
for i in $(seq 1 "$files"); do
  printf 'generated source file %d\n%s\n' "$i" "$(head -c 600 /dev/urandom | base64 -w 76)" > "$work/p/src/gen-$i.txt"
done
cat > "$work/edit.sh" <<EOF
#!/bin/sh
echo "edit \$(date +%s%N)" >> "$work/p/src/page-1.txt"
EOF
chmod +x "$work/edit.sh"
cd "$work/p"
"$rc" image load -i "$lab/images/busybox-docker.tar" >/dev/null
"$rc" -p rcbench build -q

rcb="$rc -p rcbench build -q"
dkb="docker build -q -t rcbench-build $work/p"
cold=(-n "rcompose build --no-cache" "$rcb --no-cache")
cached=(-n "rcompose build (fully cached)" "$rcb")
edit=(-n "rcompose build (one-line edit)" "$rcb")
if $docker_ok; then
  docker build -q -t rcbench-build . >/dev/null
  cold+=(-n "docker build --no-cache" "docker build -q --no-cache -t rcbench-build $work/p")
  cached+=(-n "docker build (fully cached)" "$dkb")
  edit+=(-n "docker build (one-line edit)" "$dkb")
fi
hf() { hyperfine -N --style basic "$@"; }
hf --warmup 1 --runs "$(( runs / 2 > 3 ? runs / 2 : 3 ))" --export-json "$work/cold.json" "${cold[@]}"
hf --warmup 3 --runs "$runs" --export-json "$work/cached.json" "${cached[@]}"
hf --warmup 1 --runs "$runs" --prepare "$work/edit.sh" --export-json "$work/edit.json" "${edit[@]}"
for f in cold cached edit; do
  jq -r '.results[] | "\(.command)\tmedian \(.median*1000|.*10|round/10) ms\tmin \(.min*1000|.*10|round/10) ms"' "$work/$f.json"
done
