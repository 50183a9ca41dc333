#!/usr/bin/env bash
# gen-services.sh N OUT - writes a Compose file with N services (ports, volumes, env, healthcheck,
# depends_on chains), the shape of a large real project, for loader benchmarks.
set -euo pipefail
n=${1:-1000}; out=${2:-/dev/stdout}
{
  echo "name: big"
  echo "x-common: &common"
  echo "  restart: unless-stopped"
  echo "  environment: {LOG_LEVEL: info, REGION: \"\${REGION:-eu}\"}"
  echo "  healthcheck: {test: [CMD, \"true\"], interval: 5s, timeout: 2s, retries: 3}"
  echo "services:"
  for i in $(seq 1 "$n"); do
    echo "  svc$i:"
    echo "    <<: *common"
    echo "    image: registry.local/app$((i % 17)):\${TAG:-1.0}"
    echo "    ports: [\"$((20000 + i)):80\"]"
    echo "    volumes: [\"data$((i % 10)):/data\", \"./conf/$i:/etc/app:ro\"]"
    echo "    labels: [com.example.index=$i]"
    [ "$i" -gt 1 ] && echo "    depends_on: [svc$((i - 1))]"
  done
  echo "volumes:"
  for v in $(seq 0 9); do echo "  data$v:"; done
} > "$out"
