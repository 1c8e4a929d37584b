# Sourced by bench/crowd and bench/cross-node: clustered collabd nodes on a
# private PostgreSQL (tools/services), on free loopback ports, stopped when
# the script exits.
#
#   cluster_init NAME            a work folder (cluster_work) and the exit trap;
#                                NAME prefixes messages and node ids
#   cluster_services             PostgreSQL (and Redis) under the work folder;
#                                sets cluster_pg_url
#   cluster_start_nodes N DIR [KEY=VALUE...]
#                                N nodes seeded with each other, logs in DIR;
#                                the environment is cluster_env (the lifted
#                                limits and the secret) plus the KEY=VALUEs;
#                                sets cluster_pids, cluster_ports (client
#                                ports), cluster_urls (--url ARGS for
#                                collab-bench); returns once the members met
#   cluster_start_node LOG [KEY=VALUE...]
#                                one unclustered node; its pid and port are
#                                appended as above
#                                (cluster_launcher: a command to start it
#                                under, e.g. taskset -c 0)
#   cluster_metric PORT NAME     a value of the node's /metrics (empty if none)
#   cluster_summary LABEL        a line per node: its server-side ack latency
#                                (mean of collab_ack_latency_seconds: the
#                                node of the socket), its commit latency (the
#                                owner), cluster messages sent, relay
#                                deliveries
#
# Needs $top (the repository) and $bin (the executables) set by the caller.
# Every process started here is ours: the exit trap stops exactly those pids.

cluster_pids=() cluster_ports=() cluster_urls=() cluster_launcher=()
cluster_killed=0 # nodes that had to be killed (SIGTERM ignored for 30 s)
cluster_secret="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# Lifted for benchmarks: every bench client is one user, and a crowd of one
# user's sockets would meet the per-user cap and rate limits.
cluster_env=(COLLAB_JWT_SECRET="$cluster_secret" COLLAB_BIND=127.0.0.1
             COLLAB_LOG_LEVEL=warn COLLAB_MAX_SOCKETS_PER_USER=1000000
             COLLAB_RATE_LIMIT=1000000 COLLAB_RATE_BURST=1000000)

cluster_init() {
  cluster_name="$1"
  cluster_work="$(mktemp -d "/tmp/collab-$1.XXXXXX")"
  chmod 755 "$cluster_work" # PostgreSQL runs as its own user when we are root
  trap cluster_cleanup EXIT
  trap 'exit 130' INT TERM
}

cluster_cleanup() {
  cluster_stop_nodes
  [ -d "$cluster_work/svc" ] && "$top/tools/services" stop "$cluster_work/svc" >/dev/null 2>&1 || true
  rm -rf "$cluster_work"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until the node logging to $1 (pid $2) listens; its client port on
# stdout.
wait_listening() {
  for _ in $(seq 300); do
    if grep -q 'listening on' "$1"; then
      grep -o -m1 'listening on http://[0-9.]*:[0-9]*' "$1" | sed 's/.*://'
      return 0
    fi
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  echo "$cluster_name: collabd did not start (see $1):" >&2; tail -5 "$1" >&2; exit 1
}

cluster_services() {
  "$top/tools/services" start "$cluster_work/svc" >/dev/null
  cluster_pg_url="$(sed -n 's/^COLLAB_PG_URL=//p' "$cluster_work/svc/env")"
}

cluster_start_node() {
  local log="$1"; shift
  "${cluster_launcher[@]}" env "${cluster_env[@]}" COLLAB_CLIENT_PORT=0 "$@" \
    "$bin/collabd" >"$log" 2>&1 &
  local pid=$! port
  cluster_pids+=("$pid")
  port="$(wait_listening "$log" "$pid")" || exit 1
  cluster_ports+=("$port")
  cluster_urls+=(--url "ws://127.0.0.1:${cluster_ports[-1]}/v1/ws")
}

cluster_start_nodes() {
  local n="$1" dir="$2"; shift 2
  local key cports=() seeds="" i first=${#cluster_pids[@]}
  key="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  for i in $(seq "$n"); do cports+=("$(free_port)"); seeds="$seeds,127.0.0.1:${cports[-1]}"; done
  for i in $(seq "$n"); do
    env "${cluster_env[@]}" COLLAB_NODE_ID="$cluster_name-n$i" COLLAB_CLIENT_PORT=0 \
      COLLAB_CLUSTER_PORT="${cports[$((i - 1))]}" COLLAB_CLUSTER_BIND=127.0.0.1 \
      COLLAB_SEEDS="${seeds#,}" COLLAB_CLUSTER_KEY="$key" "$@" \
      "$bin/collabd" >"$dir/collabd-n$i.log" 2>&1 &
    cluster_pids+=($!)
  done
  for i in $(seq "$n"); do
    local pid="${cluster_pids[$((first + i - 1))]}" port
    port="$(wait_listening "$dir/collabd-n$i.log" "$pid")" || exit 1
    cluster_ports+=("$port")
    cluster_urls+=(--url "ws://127.0.0.1:${cluster_ports[-1]}/v1/ws")
    echo "$cluster_name: node $cluster_name-n$i pid $pid client port ${cluster_ports[-1]}" >&2
  done
  sleep 3 # the members meet (one dial per pair, within ~2.5 s)
}

cluster_alive() { # true while one of cluster_pids runs
  local p
  for p in "${cluster_pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done
  return 1
}

# Stops the nodes started so far (the services stay): SIGTERM (they drain,
# ~1-2 s), then SIGKILL for any still there after 30 s.
cluster_stop_nodes() {
  local p
  for p in "${cluster_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 300); do
    cluster_alive || break
    sleep 0.1
  done
  for p in "${cluster_pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then
      echo "$cluster_name: collabd pid $p did not stop within 30 s of SIGTERM: killed" >&2
      kill -KILL "$p" 2>/dev/null || true
      cluster_killed=$((cluster_killed + 1))
    fi
    wait "$p" 2>/dev/null || true
  done
  cluster_pids=() cluster_ports=() cluster_urls=()
}

cluster_metric() {
  curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n {print $2}'
}

cluster_summary() {
  local i
  for i in "${!cluster_ports[@]}"; do
    curl -s "http://127.0.0.1:${cluster_ports[$i]}/metrics" | awk -v run="$1" -v n="n$((i + 1))" '
      $1 == "collab_ack_latency_seconds_sum" { as = $2 }
      $1 == "collab_ack_latency_seconds_count" { ac = $2 }
      $1 == "collab_commit_latency_seconds_sum" { cs = $2 }
      $1 == "collab_commit_latency_seconds_count" { cc = $2 }
      $1 == "collab_delivery_remote_messages_total" { rm = $2 }
      $1 == "collab_relay_deliveries_total" { rd = $2 }
      END { printf "%s %s: server ack mean %.2f ms (%d acks), commit mean %.2f ms (%d commits), cluster messages sent %d, relay deliveries %d\n",
                   run, n, ac ? 1000 * as / ac : 0, ac, cc ? 1000 * cs / cc : 0, cc, rm, rd }'
  done
}
