#!/bin/sh
# Starts a 3-member etcd 3.4 cluster on 127.0.0.1 (free ports, data dirs in a
# temp dir), measures replicated puts (bench_replication.py: K in flight, the
# same ~300-byte value as bench_raft), runs bench_raft for the same K, and
# prints both side by side. etcd is always stopped and its dirs removed.
#
# Usage: bench/bench_etcd.sh [--dir DIR] [bench_replication.py options...]
#   e.g. bench/bench_etcd.sh --inflight 1,64,512 --seconds 3
# Needs etcd and etcdctl: apt-get install -y etcd-server etcd-client
# (for etcd's own gRPC API from Python also: apt-get install -y python3-grpcio).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
parent=/tmp
if [ "${1:-}" = "--dir" ]; then
    parent=$2
    shift 2
fi
for tool in etcd etcdctl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "bench_etcd: $tool is not installed; install it with:" >&2
        echo "    apt-get install -y etcd-server etcd-client" >&2
        exit 2
    fi
done
# The Debian grpc module lives with the system interpreter.
py=python3
if /usr/bin/python3 -c 'import grpc' >/dev/null 2>&1; then
    py=/usr/bin/python3
fi

tmp=$(mktemp -d "$parent/bench_etcd.XXXXXX")
pids=""
cleanup() {
    for pid in $pids; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $pids; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ports=$($py -c '
import socket
ss = [socket.socket() for _ in range(6)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
for s in ss:
    s.close()')
i=0
cluster=""
for p in $ports; do
    i=$((i + 1))
    eval "port_$i=$p"
done
for m in 1 2 3; do
    eval "peer=\$port_$((m + 3))"
    cluster="${cluster:+$cluster,}m$m=http://127.0.0.1:$peer"
done
endpoints=""
for m in 1 2 3; do
    eval "client=\$port_$m"
    eval "peer=\$port_$((m + 3))"
    endpoints="${endpoints:+$endpoints,}127.0.0.1:$client"
    etcd --name "m$m" --data-dir "$tmp/m$m" \
        --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
        --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
        --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token bench \
        --logger zap --log-level error >"$tmp/m$m.log" 2>&1 &
    pids="$pids $!"
done
tries=0
until etcdctl --endpoints "$endpoints" endpoint health >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ $tries -gt 100 ]; then
        echo "bench_etcd: the etcd cluster did not become healthy; its logs:" >&2
        tail -n 20 "$tmp"/m*.log >&2
        exit 1
    fi
    sleep 0.1
done
echo "# etcd $(etcd --version | head -n 1 | sed 's/etcd Version: //'): 3 members at $endpoints, data in $tmp"
$py "$here/bench_replication.py" --etcd "$endpoints" "$@"
