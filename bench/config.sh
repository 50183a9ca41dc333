#!/usr/bin/env bash
# config.sh - `config -q` of rcompose vs docker compose v2 (and podman-compose when installed):
# on all 39 awesome-compose projects (one run = every project once) and on a generated
# 1000-service file. Needs hyperfine and docker-compose-v2 (../shared/lab/install-compose-v2.sh).
# Usage: bench/config.sh [RUNS]   (prints hyperfine tables; results go to BENCHMARKS.md by hand)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
runs=${1:-20}
cargo build --release --manifest-path "$root/Cargo.toml" -q
rc="${CARGO_TARGET_DIR:-$root/target}/release/rcompose"
awesome="$(cd "$root/../shared/conformance/awesome-compose" && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
"$here/gen-services.sh" 1000 "$work/big.yaml"

# one command that checks every awesome-compose project, for each tool
for tool in rcompose docker-compose-v2; do
  bin=$rc; [ "$tool" = docker-compose-v2 ] && bin=docker-compose-v2
  {
    echo "#!/usr/bin/env bash"
    for d in "$awesome"/*/; do echo "cd '$d' && HOME=/home/tester '$bin' config -q >/dev/null 2>&1"; done
  } > "$work/all-$tool.sh"
  chmod +x "$work/all-$tool.sh"
done

echo "== 39 awesome-compose projects, config -q each"
hyperfine -N --warmup 2 --runs "$runs" -n rcompose "$work/all-rcompose.sh" -n docker-compose-v2 "$work/all-docker-compose-v2.sh"
echo "== generated 1000-service file, config -q"
hyperfine -N --warmup 2 --runs "$runs" \
  -n rcompose "$rc -f $work/big.yaml config -q" \
  -n docker-compose-v2 "docker-compose-v2 -f $work/big.yaml config -q"
