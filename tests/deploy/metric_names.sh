#!/usr/bin/env bash
# Every collab_* metric the deploy/ files use (the alerting rules, the
# Grafana dashboard) is one a node serves: a renamed metric must not leave an
# alert that can never fire. Starts collabd with PostgreSQL and Redis (their
# metrics appear only then) from COLLAB_TEST_PG_URL / COLLAB_TEST_REDIS_URL,
# as tools/test provides them.
#
#   tests/deploy/metric_names.sh COLLABD
set -euo pipefail
collabd="${1:?usage: metric_names.sh COLLABD}"
top="$(cd "$(dirname "$0")/../.." && pwd)"
: "${COLLAB_TEST_PG_URL:?set COLLAB_TEST_PG_URL (tools/test does)}"
: "${COLLAB_TEST_REDIS_URL:?set COLLAB_TEST_REDIS_URL (tools/test does)}"

log="$(mktemp)"
env COLLAB_JWT_SECRET=metric-names COLLAB_CLIENT_PORT=0 COLLAB_BIND=127.0.0.1 \
  COLLAB_PG_URL="$COLLAB_TEST_PG_URL" COLLAB_REDIS_URL="$COLLAB_TEST_REDIS_URL" \
  "$collabd" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
port=""
for _ in $(seq 200); do
  port="$(grep -o -m1 'listening on http://[0-9.]*:[0-9]*' "$log" | sed 's/.*://' || true)"
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.05
done
[ -n "$port" ] || { echo "collabd did not start"; cat "$log"; exit 1; }

served="$(curl -sf "http://127.0.0.1:$port/metrics" | grep -o '^collab_[a-z_]*' \
  | sed -E 's/_(bucket|sum|count)$//' | sort -u)"
used="$(grep -ho 'collab_[a-z_]*' "$top/deploy/prometheus/collab-alerts.yml" \
  "$top/deploy/grafana/collab-dashboard.json" | sed -E 's/_(bucket|sum|count)$//' | sort -u)"
missing="$(comm -23 <(echo "$used") <(echo "$served"))"
echo "deploy/ uses $(echo "$used" | wc -l) metrics; the node serves $(echo "$served" | wc -l)"
if [ -n "$missing" ]; then
  echo "used in deploy/ but not served by collabd:"
  echo "$missing"
  exit 1
fi
