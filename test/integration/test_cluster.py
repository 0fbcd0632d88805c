"""A real multi-node swarm: 1 manager + 2 workers as swarmd processes on 127.0.0.1/2/3.

Joining with tokens, spreading, drain/pause, global services on late joiners,
reservations that fit nowhere, a worker killed with SIGKILL and coming back,
token rotation, a token of another swarm, node removal, workers refusing
control calls, and leaving.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bindings", "python"))
import swarm  # noqa: E402

SWARMD = os.environ.get("SWARMD", "build/examples/swarmd")


def wait_for(cond, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(0.02)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def free_port(hosts=("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")):
    """A port number free on every test address (asked from the kernel, then checked on each)."""
    import socket
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            for host in hosts:
                with socket.socket() as s:
                    s.bind((host, port))
                with socket.socket() as s:
                    s.bind((host, port + 1))
            return port
        except OSError:
            continue
    raise AssertionError("no free port")


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


class Node:
    def __init__(self, tmp, index, port, runtime="process", env=None):
        self.index = index
        self.addr = "127.0.0.%d:%d" % (index, port)
        self.state = os.path.join(tmp, "n%d" % index)
        self.sock = os.path.join(tmp, "n%d.sock" % index)
        self.logpath = os.path.join(tmp, "n%d.log" % index)
        self.runtime = runtime
        self.env = env
        self.proc = None
        self.api = None

    def start(self):
        log = open(self.logpath, "ab")
        self.proc = subprocess.Popen([SWARMD, "--state-dir", self.state, "--listen-addr", self.addr,
                                      "--control-socket", self.sock, "--hostname", "node%d" % self.index,
                                      "--runtime", self.runtime], stdout=log, stderr=log,
                                     env=dict(os.environ, **(self.env or {})))
        log.close()
        wait_for(lambda: os.path.exists(self.sock) or self.proc.poll() is not None, what="swarmd to start")
        if self.proc.poll() is not None:
            raise AssertionError("swarmd exited: " + open(self.logpath).read()[-2000:])
        self.api = swarm.Cluster.connect("unix://" + self.sock)
        return self.api

    def stop(self, sig=signal.SIGTERM):
        if self.api:
            self.api.close()
            self.api = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        self.proc = None


class ClusterTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="swarm-cluster-")
        self.port = free_port()
        self.nodes = [Node(self.tmp, i, self.port) for i in (1, 2, 3)]
        self.pids = set()
        try:
            self.start_cluster()
        except BaseException:
            self.stop_all()  # a failed setUp gets no tearDown: leave no process behind
            raise

    def start_cluster(self):
        self.m = self.nodes[0].start()
        self.m.init(AdvertiseAddr=self.nodes[0].addr)
        self.token = self.m.join_tokens["Worker"]
        for n in self.nodes[1:]:
            n.start().join(self.nodes[0].addr, self.token)
        wait_for(lambda: self.ready_hostnames() == ["node1", "node2", "node3"], what="3 ready nodes")

    def tearDown(self):
        try:
            if self.nodes[0].api:
                for s in self.m.services.list():
                    s.remove()
        finally:
            self.stop_all()

    def stop_all(self):
        for n in self.nodes:
            n.stop()
        for pid in self.pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def ready_hostnames(self):
        return sorted(n.hostname for n in self.m.nodes.list() if n.state == "ready")

    def hostnames(self):
        return {n.id: n.hostname for n in self.m.nodes.list()}

    def running(self, service):
        tasks = [t for t in self.m.tasks.list({"service": [service], "desired-state": ["running"]})
                 if t.state == "running"]
        for t in tasks:
            pid = t.attrs["Status"].get("ContainerStatus", {}).get("PID")
            if pid:
                self.pids.add(pid)
        return tasks

    def where(self, service):
        names = self.hostnames()
        return sorted(names.get(t.node_id, "?") for t in self.running(service))

    def create(self, name, replicas=None, mode=None, **template):
        spec = {"Name": name, "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Args": ["sleep", "300"]}},
                "Mode": mode or {"Replicated": {"Replicas": replicas or 1}}}
        spec["TaskTemplate"].update(template)
        return self.m.services.create(spec)

    def test_spread_drain_pause(self):
        me = self.m.nodes.get("self")
        self.assertTrue(me.leader)
        self.assertEqual([n.role for n in self.m.nodes.list()].count("worker"), 2)
        self.create("web", 6)
        wait_for(lambda: self.where("web") == ["node1"] * 2 + ["node2"] * 2 + ["node3"] * 2, what="an even spread")
        self.m.nodes.get("node2").update(availability="drain")
        wait_for(lambda: len(self.running("web")) == 6 and "node2" not in self.where("web"), what="node2 drained")
        self.m.nodes.get("node2").update(availability="active")
        self.m.nodes.get("node3").update(availability="pause")
        node3 = self.m.nodes.get("node3").id

        def on_node3():
            # Tasks meant to run on node3, whatever their state right now (one may be restarting).
            return {t.id for t in self.m.tasks.list({"service": ["web"], "node": [node3],
                                                     "desired-state": ["running"]})}
        before = on_node3()
        self.m.services.get("web").scale(12)
        wait_for(lambda: len(self.running("web")) == 12, what="12 running")
        self.assertEqual(on_node3() - before, set(), "a paused node got new tasks")
        self.assertEqual(self.m.nodes.get("node3").availability, "pause")

    def test_constraints_labels_and_reservations(self):
        self.m.nodes.get("node3").update(labels={"zone": "b"})
        self.create("pinned", 3, Placement={"Constraints": ["node.labels.zone==b"]})
        wait_for(lambda: self.where("pinned") == ["node3"] * 3, what="constraint honoured")
        self.create("workers-only", 4, Placement={"Constraints": ["node.role!=manager"]})
        wait_for(lambda: len(self.running("workers-only")) == 4, what="4 running")
        self.assertNotIn("node1", self.where("workers-only"))
        self.create("huge", 1, Resources={"Reservations": {"MemoryBytes": 1 << 50}})
        task = wait_for(lambda: [t for t in self.m.tasks.list({"service": ["huge"]})
                                 if "insufficient resources on 3 nodes" in t.attrs["Status"].get("Err", "")],
                        what="an unschedulable task")[0]
        self.assertEqual(task.state, "pending")

    def test_global_service_reaches_a_late_joiner(self):
        self.nodes[2].api.leave()
        wait_for(lambda: "node3" not in self.ready_hostnames(), what="node3 down after leaving")
        self.m.nodes.remove("node3", force=True)
        self.create("agent", mode={"Global": {}})
        wait_for(lambda: self.where("agent") == ["node1", "node2"], what="one task per node")
        fresh = Node(self.tmp, 4, self.port)
        self.nodes.append(fresh)
        fresh.start().join(self.nodes[0].addr, self.token)
        wait_for(lambda: self.where("agent") == ["node1", "node2", "node4"], what="the late joiner's task")

    def test_worker_sigkill_and_return(self):
        self.create("web", 4)
        wait_for(lambda: len(self.running("web")) == 4, what="4 running")
        on_node2 = [t for t in self.running("web") if self.hostnames()[t.node_id] == "node2"]
        self.assertTrue(on_node2)
        self.nodes[1].stop(signal.SIGKILL)
        start = time.monotonic()
        wait_for(lambda: len(self.running("web")) == 4 and "node2" not in self.where("web"), 10, "replacements")
        took = time.monotonic() - start
        self.assertEqual(self.m.nodes.get("node2").state, "down")
        print("worker SIGKILL -> replacements running: %.2f s" % took)
        # The worker comes back: it re-adopts its processes, learns they are no longer wanted, stops them.
        self.nodes[1].start()
        wait_for(lambda: "node2" in self.ready_hostnames(), what="node2 ready again")
        old_pids = [t.attrs["Status"]["ContainerStatus"]["PID"] for t in on_node2]
        wait_for(lambda: not any(alive(p) for p in old_pids), what="stale tasks stopped")
        for t in on_node2:
            wait_for(lambda: self.m.tasks.get(t.id).state in ("shutdown", "complete", "failed"),
                     what="stale task reported stopped")

    def test_tokens(self):
        old = self.token
        self.m.update(rotate_worker_token=True)
        new = self.m.join_tokens["Worker"]
        self.assertNotEqual(old, new)
        self.assertNotEqual(new, self.m.join_tokens["Manager"])
        late = Node(self.tmp, 4, self.port)
        self.nodes.append(late)
        api = late.start()
        with self.assertRaises(swarm.InvalidArgument) as cm:
            api.join(self.nodes[0].addr, old)
        self.assertIn("valid join token", str(cm.exception))
        self.assertEqual(api.info()["LocalNodeState"], "inactive")
        # A token of another swarm: its CA digest does not match this manager's CA.
        other = Node(self.tmp, 5, self.port + 1)
        self.nodes.append(other)
        other.start().init(AdvertiseAddr=other.addr)
        foreign = other.api.join_tokens["Worker"]
        with self.assertRaises(swarm.InvalidArgument) as cm:
            api.join(self.nodes[0].addr, foreign)
        self.assertIn("fingerprint", str(cm.exception))
        with self.assertRaises(swarm.InvalidArgument):
            api.join(self.nodes[0].addr, "SWMTKN-1-garbage")
        api.join(self.nodes[0].addr, new)
        wait_for(lambda: "node4" in self.ready_hostnames(), what="node4 joined with the new token")

    def test_workers_refuse_control_and_removal_is_final(self):
        worker = self.nodes[1].api
        with self.assertRaises(swarm.Unavailable) as cm:
            worker.services.list()
        self.assertIn("Worker nodes can't be used", str(cm.exception))
        with self.assertRaises(swarm.InvalidArgument) as cm:
            self.m.nodes.remove("node2")
        self.assertIn("is not down", str(cm.exception))
        with self.assertRaises(swarm.InvalidArgument) as cm:
            self.m.nodes.remove("node1", force=True)
        self.assertIn("demoted", str(cm.exception))
        self.m.nodes.remove("node2", force=True)
        self.assertNotIn("node2", self.hostnames().values())
        # Its certificate is still valid cryptographically; the manager refuses it for good.
        self.nodes[1].stop()
        self.nodes[1].start()
        wait_for(lambda: self.nodes[1].api.info()["LocalNodeState"] == "error", what="node2 refused")
        self.assertIn("removed", self.nodes[1].api.info()["Error"])
        self.assertNotIn("node2", self.hostnames().values())

    def test_certificate_renewal(self):
        node = Node(self.tmp, 4, self.port, env={"LIBSWARM_TEST_CERT_RENEW_MS": "300"})
        self.nodes.append(node)
        node.start().join(self.nodes[0].addr, self.token)
        path = os.path.join(node.state, "certificates", "swarm-node.crt")
        first = open(path).read()
        wait_for(lambda: open(path).read() != first, what="a renewed certificate")
        # The renewed certificate is what the node proves itself with after a restart.
        node.stop()
        node.env = None
        node.start()
        wait_for(lambda: "node4" in self.ready_hostnames() and node.api.info().get("Connected"),
                 what="node4 back with its renewed certificate")

    def test_node_of_another_swarm_is_refused(self):
        # A node that belongs to another swarm points itself at this manager: its certificate
        # (valid, but from the other swarm's CA) does not get it in.
        other = Node(self.tmp, 5, self.port + 1)
        self.nodes.append(other)
        other.start().init(AdvertiseAddr=other.addr)
        stranger = Node(self.tmp, 4, self.port)
        self.nodes.append(stranger)
        stranger.start().join(other.addr, other.api.join_tokens["Worker"])
        stranger.stop()
        import json
        ident_path = os.path.join(stranger.state, "node.json")
        ident = json.load(open(ident_path))
        ident["ManagerAddr"] = self.nodes[0].addr
        json.dump(ident, open(ident_path, "w"))
        # It even trusts this swarm's CA, so TLS gets through; its own certificate is the other CA's.
        shutil.copy(os.path.join(self.nodes[0].state, "certificates", "swarm-root-ca.crt"),
                    os.path.join(stranger.state, "certificates", "swarm-root-ca.crt"))
        stranger.start()
        wait_for(lambda: "refused a node" in open(self.nodes[0].logpath).read(), what="the manager refusing it")
        self.assertNotIn("node4", self.hostnames().values())
        self.assertFalse(stranger.api.info().get("Connected"))

    def test_leave(self):
        with self.assertRaises(swarm.Unavailable) as cm:
            self.m.leave()
        self.assertIn("--force", str(cm.exception))
        self.nodes[2].api.leave()
        self.assertEqual(self.nodes[2].api.info()["LocalNodeState"], "inactive")
        wait_for(lambda: "node3" not in self.ready_hostnames(), what="node3 down")


if __name__ == "__main__":
    unittest.main()
