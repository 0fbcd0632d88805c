#!/usr/bin/env python3
"""Replicated writes: etcd 3.4 (3 members) next to libswarm's Raft (bench_raft, 3 nodes).

Drives a put load against a running etcd cluster with K requests kept in
flight (the same ~300-byte service-spec value that bench_raft proposes),
prints etcd's writes/s and p50/p99, then runs bench_raft for the same K and
prints both side by side with the ratio. bench_etcd.sh starts and stops the
etcd cluster and calls this; run it directly only against a cluster of yours.

Clients: gRPC (etcd's own API, /etcdserverpb.KV/Put with a hand-encoded
PutRequest) when the grpc module is importable (Debian: python3-grpcio, for
/usr/bin/python3), else the gRPC gateway (HTTP/1.1 keep-alive POST
/v3/kv/put, one connection per request in flight), which costs etcd more.

Usage: bench_replication.py --etcd HOST:PORT[,HOST:PORT...] [--bench-raft PATH]
                            [--inflight 1,64,512] [--seconds S] [--client grpc|http] [--no-tls]
"""

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)

WARMUP_S = 0.5


def payload(k):
    """The value bench_raft writes: a ServiceCreate of `sleep` (~330 bytes)."""
    obj = {
        "ID": "bsvc%021d" % k,
        "Version": {"Index": 0},
        "CreatedAt": "2026-11-29T21:22:24.251997Z",
        "UpdatedAt": "2026-11-29T21:22:24.251997Z",
        "Spec": {
            "Name": "bench-%012d" % k,
            "Labels": {},
            "TaskTemplate": {
                "ContainerSpec": {"Image": "busybox:latest", "Args": ["sleep", "3600"]},
                "RestartPolicy": {"Condition": "any", "MaxAttempts": 0},
                "ForceUpdate": 0,
            },
            "Mode": {"Replicated": {"Replicas": 1}},
            "EndpointSpec": {"Mode": "vip"},
        },
    }
    return json.dumps(obj, separators=(",", ":")).encode()


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def put_request(key, value):
    """etcdserverpb.PutRequest{key = 1, value = 2} in protobuf wire form."""
    return b"\x0a" + varint(len(key)) + key + b"\x12" + varint(len(value)) + value


class Stats:
    def __init__(self, seconds):
        self.start = time.monotonic()
        self.measure_from = self.start + WARMUP_S
        self.stop_at = self.measure_from + seconds
        self.lat = []
        self.failures = 0
        self.next = 0

    def key(self):
        self.next += 1
        return self.next

    def record(self, t0, ok):
        now = time.monotonic()
        if not ok:
            self.failures += 1
        elif t0 >= self.measure_from and now <= self.stop_at:
            self.lat.append(now - t0)
        return now < self.stop_at


async def grpc_worker(stub, st):
    while True:
        k = st.key()
        req = put_request(b"/bench/services/%d" % k, payload(k))
        t0 = time.monotonic()
        try:
            await stub(req, timeout=30)
            ok = True
        except Exception as exc:  # noqa: BLE001 - any failure counts
            if st.failures == 0:
                print("# etcd put failed: %s" % exc, file=sys.stderr)
            ok = False
        if not st.record(t0, ok):
            return


async def run_grpc(endpoints, inflight, seconds):
    import grpc  # noqa: PLC0415

    chans = [grpc.aio.insecure_channel(ep) for ep in endpoints]
    stubs = [ch.unary_unary("/etcdserverpb.KV/Put") for ch in chans]
    st = Stats(seconds)
    await asyncio.gather(*(grpc_worker(stubs[i % len(stubs)], st) for i in range(inflight)))
    for ch in chans:
        await ch.close()
    return st


async def http_worker(host, port, st):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            k = st.key()
            body = json.dumps({"key": base64.b64encode(b"/bench/services/%d" % k).decode(),
                               "value": base64.b64encode(payload(k)).decode()}).encode()
            head = ("POST /v3/kv/put HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                    "Content-Length: %d\r\n\r\n" % (host, port, len(body))).encode()
            t0 = time.monotonic()
            writer.write(head + body)
            status = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if length:
                await reader.readexactly(length)
            if not st.record(t0, b" 200 " in status):
                return
    finally:
        writer.close()


async def run_http(endpoints, inflight, seconds):
    st = Stats(seconds)
    eps = [(h, int(p)) for h, p in (ep.rsplit(":", 1) for ep in endpoints)]
    await asyncio.gather(*(http_worker(*eps[i % len(eps)], st) for i in range(inflight)))
    return st


def pct(sorted_lat, p):
    if not sorted_lat:
        return 0.0
    return sorted_lat[int(p * (len(sorted_lat) - 1) + 0.5)] * 1000.0


def leader_first(endpoints):
    """Puts go to the leader (followers forward them): order endpoints so the leader is first."""
    try:
        out = subprocess.run(["etcdctl", "--endpoints", ",".join(endpoints), "endpoint", "status", "-w", "json"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        st = json.loads(out)
        lead = [s["Endpoint"] for s in st if s["Status"]["leader"] == s["Status"]["header"]["member_id"]]
        if lead:
            ep = lead[0].split("://")[-1]
            return [ep] + [e for e in endpoints if e != ep]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError):
        pass
    return endpoints


def bench_etcd(endpoints, inflight, seconds, client):
    st = asyncio.run((run_grpc if client == "grpc" else run_http)(endpoints, inflight, seconds))
    lat = sorted(st.lat)
    return len(lat) / seconds, pct(lat, 0.50), pct(lat, 0.99), st.failures


def bench_ours(path, inflight, seconds, tls):
    args = [path, "--nodes", "3", "--inflight", str(inflight), "--actions", "1", "--seconds", str(seconds), "--csv"]
    if not tls:
        args.append("--no-tls")
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("csv,"):
            f = line.split(",")
            return float(f[5]), float(f[6]), float(f[7])
    raise RuntimeError("bench_raft printed no result:\n" + out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--etcd", required=True, help="client endpoints HOST:PORT,...")
    ap.add_argument("--bench-raft", default=os.path.join(root, "build-bench", "bench", "bench_raft"))
    ap.add_argument("--inflight", default="1,64,512")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--client", choices=["grpc", "http"], default=None)
    ap.add_argument("--no-tls", action="store_true", help="bench_raft over plain tcp (etcd runs without TLS here)")
    a = ap.parse_args()
    client = a.client
    if client is None:
        try:
            import grpc  # noqa: F401, PLC0415
            client = "grpc"
        except ImportError:
            client = "http"
    endpoints = leader_first(a.etcd.split(","))
    ks = [int(k) for k in a.inflight.split(",")]
    print("# value %d bytes; etcd client: %s, to %s (leader first); libswarm: %s, 3 nodes, %s, %.1f s each"
          % (len(payload(0)), client, ",".join(endpoints), a.bench_raft, "tcp" if a.no_tls else "mutual TLS",
             a.seconds))
    rows = []
    for k in ks:
        w, p50, p99, failed = bench_etcd(endpoints, k, a.seconds, client)
        if failed:
            print("# etcd: %d puts failed at K=%d" % (failed, k))
        ours = (0.0, 0.0, 0.0)
        if os.path.exists(a.bench_raft):
            ours = bench_ours(a.bench_raft, k, a.seconds, not a.no_tls)
        rows.append((k, w, p50, p99) + ours)
    print("%8s | %12s %9s %9s | %12s %9s %9s | %8s" % ("inflight", "etcd w/s", "p50_ms", "p99_ms", "libswarm w/s",
                                                        "p50_ms", "p99_ms", "ratio"))
    for k, w, p50, p99, ow, op50, op99 in rows:
        ratio = ow / w if w else 0.0
        print("%8d | %12.0f %9.2f %9.2f | %12.0f %9.2f %9.2f | %7.2fx" % (k, w, p50, p99, ow, op50, op99, ratio))
    if not os.path.exists(a.bench_raft):
        print("# %s not found: build it with ./scripts/build build-bench -Dbench=true" % a.bench_raft)


if __name__ == "__main__":
    main()
