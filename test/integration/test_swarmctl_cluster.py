"""swarmctl against a cluster of real swarmd processes: one manager and two workers.

Each swarmd listens on its own loopback address (127.0.0.1, .2, .3; a fourth
on .4 joins later) with the same free port. The tests run in order on one
cluster (they change it: drain, rotate, rm, leave). Run by meson with SWARMD
and SWARMCTL naming the built binaries; prints "N passed, N failed".

Comments "Library behaviour:" mark checks of libswarm rather than of
swarmctl (a failing one would be marked "LIBRARY:").
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from swarmctl_harness import SWARMCTL, SWARMD, table, wait_for  # noqa: E402

ID_RE = r"[0-9a-z]{25}"
TOKEN_RE = r"SWMTKN-1-[0-9a-z]+-[0-9a-z]+"
NODE_HEADER = ["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "ENGINE VERSION"]
WORKER_REFUSAL = ("Error response from daemon: This node is not a swarm manager. Worker nodes can't be used to "
                  "view or modify cluster state. Please run this command on a manager node or promote the current "
                  "node to a manager.")
LEAVE_MANAGER = ("Error response from daemon: You are attempting to leave the swarm on a node that is participating "
                 "as a manager. Removing the last manager erases all current state of the swarm. Use `--force` to "
                 "ignore this message.")


def port_free_on_all(port, hosts):
    for host in hosts:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def shared_free_port(hosts):
    """A port that can be bound on every one of the loopback addresses."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port_free_on_all(port, hosts):
            return port
    raise RuntimeError("no port free on all of " + ", ".join(hosts))


class Node:
    """One swarmd: --state-dir TMP/nX --listen-addr 127.0.0.X:PORT --hostname nodeX --control-socket TMP/nX.sock."""

    def __init__(self, root, index, port):
        self.index = index
        self.hostname = "node%d" % index
        self.ip = "127.0.0.%d" % index
        self.addr = "%s:%d" % (self.ip, port)
        self.socket = os.path.join(root, "n%d.sock" % index)
        self.log = open(os.path.join(root, "n%d.log" % index), "wb")
        self.proc = subprocess.Popen(
            [SWARMD, "--state-dir", os.path.join(root, "n%d" % index), "--listen-addr", self.addr,
             "--hostname", self.hostname, "--control-socket", self.socket],
            stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_for(lambda: os.path.exists(self.socket) or self.proc.poll() is not None):
            raise RuntimeError("swarmd %s did not create its socket in time" % self.hostname)
        if self.proc.poll() is not None:
            raise RuntimeError("swarmd %s exited early (rc %s)" % (self.hostname, self.proc.returncode))

    def ctl(self, *args, timeout=120):
        env = dict(os.environ)
        env.pop("SWARM_HOST", None)
        env["SWARMCTL_VERIFY_SECONDS"] = "0"
        return subprocess.run([SWARMCTL, "-H", "unix://" + self.socket] + list(args), capture_output=True,
                              text=True, env=env, timeout=timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def task_pids(marker):
    """Processes started for this test's services (their environment holds the marker)."""
    pids = []
    needle = ("SWARMCTL_CLUSTER_TEST=%s" % marker).encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                if needle in f.read().split(b"\0"):
                    pids.append(int(pid))
        except OSError:
            pass
    return pids


class ClusterTest(unittest.TestCase):
    """Tests named test_NN_* run in order on the same cluster."""

    @classmethod
    def setUpClass(cls):
        if not SWARMD or not SWARMCTL:
            raise unittest.SkipTest("SWARMD and SWARMCTL must name the built binaries")
        cls.root = tempfile.mkdtemp(prefix="swarmctl-cluster-")
        cls.nodes = {}
        cls.service_ids = []
        try:
            cls.port = shared_free_port(["127.0.0.%d" % i for i in range(1, 5)])
            for i in (1, 2, 3):
                cls.nodes[i] = Node(cls.root, i, cls.port)
            cls.manager = cls.nodes[1]
            cls.init = cls.manager.ctl("swarm", "init", "--advertise-addr", cls.manager.addr,
                                       "--listen-addr", cls.manager.addr)
            if cls.init.returncode != 0:
                raise RuntimeError("swarm init failed: " + cls.init.stderr)
            r = cls.manager.ctl("swarm", "join-token", "-q", "worker")
            if r.returncode != 0:
                raise RuntimeError("join-token failed: " + r.stderr)
            cls.worker_token = r.stdout.strip()
            cls.joins = {}
            for i in (2, 3):
                n = cls.nodes[i]
                cls.joins[i] = n.ctl("swarm", "join", "--token", cls.worker_token, "--listen-addr", n.addr,
                                     "--advertise-addr", n.addr, cls.manager.addr)
        except BaseException:
            cls.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.cleanup()

    @classmethod
    def cleanup(cls):
        try:
            if getattr(cls, "manager", None) is not None:
                ids = cls.manager.ctl("service", "ls", "-q").stdout.split()
                if ids:
                    cls.manager.ctl("service", "rm", *ids)
                # Task processes outlive swarmd: give the agents time to stop them.
                wait_for(lambda: not task_pids(cls.root), timeout=30)
        finally:
            for n in cls.nodes.values():
                n.stop()
            # Anything still running was started for this test: end it.
            for pid in task_pids(cls.root):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            shutil.rmtree(cls.root, ignore_errors=True)

    # -------------------------------------------------------------- helpers

    def ok(self, node, *args, **kwargs):
        r = node.ctl(*args, **kwargs)
        self.assertEqual(r.returncode, 0, "swarmctl %s failed: %s" % (" ".join(args), r.stderr))
        return r

    def fails(self, node, args, first_line=None):
        """Exit code 1, nothing on stdout; returns the result (first_line: stderr's first line must equal it)."""
        r = node.ctl(*args)
        self.assertEqual(r.returncode, 1, "expected failure of %s: %s" % (" ".join(args), r.stdout))
        if first_line is not None:
            self.assertEqual(r.stderr.splitlines()[0] if r.stderr else "", first_line)
        return r

    def node_rows(self):
        """node ls parsed: hostname -> (id, self, status, availability, manager status)."""
        r = self.manager.ctl("node", "ls", "--format", "{{.Hostname}}|{{.ID}}|{{.Self}}|{{.Status}}|"
                                                       "{{.Availability}}|{{.ManagerStatus}}")
        rows = {}
        for line in r.stdout.splitlines():
            host, nid, me, status, avail, ms = line.split("|")
            rows[host] = (nid, me == "true", status, avail, ms)
        return rows

    def wait_status(self, hostname, status, timeout=30):
        return wait_for(lambda: self.node_rows().get(hostname, (None,) * 5)[2] == status, timeout=timeout)

    def running_tasks(self, service):
        """(name, node) of the service's tasks that are desired and currently running."""
        r = self.manager.ctl("service", "ps", "-f", "desired-state=running", "--format",
                             "{{.Name}}|{{.Node}}|{{.CurrentState}}", service)
        out = []
        for line in r.stdout.splitlines():
            name, node, state = line.split("|")
            if state.startswith("Running"):
                out.append((name, node))
        return out

    def token(self, role):
        return self.ok(self.manager, "swarm", "join-token", "-q", role).stdout.strip()

    def join_text(self, role, token):
        return ("To add a %s to this swarm, run the following command:\n\n"
                "    swarmctl swarm join --token %s %s\n\n" % (role, token, self.manager.addr))

    def start_node(self, index):
        n = Node(self.root, index, self.port)
        self.nodes[index] = n
        return n

    # -------------------------------------------------------------- tests

    def test_01_init_and_join(self):
        m = re.match(r"Swarm initialized: current node \((%s)\) is now a manager\.\n\n" % ID_RE, self.init.stdout)
        self.assertIsNotNone(m, self.init.stdout)
        self.assertEqual(self.init.stdout[m.end():],
                         self.join_text("worker", self.worker_token) +
                         "To add a manager to this swarm, run 'swarmctl swarm join-token manager' and follow the "
                         "instructions.\n")
        self.assertRegex(self.worker_token, "^%s$" % TOKEN_RE)
        for i in (2, 3):
            self.assertEqual((self.joins[i].returncode, self.joins[i].stdout, self.joins[i].stderr),
                             (0, "This node joined a swarm as a worker.\n", ""))
        # Joining again is refused by the node itself.
        r = self.fails(self.nodes[2], ["swarm", "join", "--token", self.worker_token, "--listen-addr",
                                       self.nodes[2].addr, self.manager.addr])
        self.assertIn("This node is already part of a swarm", r.stderr)

    def test_02_join_token(self):
        worker, manager = self.token("worker"), self.token("manager")
        self.assertRegex(manager, "^%s$" % TOKEN_RE)
        self.assertNotEqual(worker, manager)
        self.assertEqual(self.ok(self.manager, "swarm", "join-token", "worker").stdout,
                         self.join_text("worker", worker))
        self.assertEqual(self.ok(self.manager, "swarm", "join-token", "manager").stdout,
                         self.join_text("manager", manager))
        r = self.fails(self.manager, ["swarm", "join-token", "bogus"], "unknown role bogus")
        self.assertEqual(r.stdout, "")
        self.fails(self.manager, ["swarm", "join-token"], "\"swarmctl swarm join-token\" requires exactly 1 argument.")
        self.fails(self.nodes[2], ["swarm", "join-token", "worker"], WORKER_REFUSAL)

    def test_03_node_ls(self):
        ok = wait_for(lambda: [r[2] for r in self.node_rows().values()] == ["Ready"] * 3, timeout=30)
        rows = self.node_rows()
        self.assertTrue(ok, rows)
        self.assertEqual(sorted(rows), ["node1", "node2", "node3"])
        self.assertEqual(rows["node1"][1:], (True, "Ready", "Active", "Leader"))
        self.assertEqual(rows["node2"][1:], (False, "Ready", "Active", ""))
        self.assertEqual(rows["node3"][1:], (False, "Ready", "Active", ""))
        version = self.ok(self.manager, "node", "inspect", "-f", "{{.Description.Engine.EngineVersion}}",
                          "self").stdout.strip()
        expected = table([["ID  "] + NODE_HEADER[1:],
                          [rows["node1"][0] + " *", "node1", "Ready", "Active", "Leader", version],
                          [rows["node2"][0], "node2", "Ready", "Active", "", version],
                          [rows["node3"][0], "node3", "Ready", "Active", "", version]])
        self.assertEqual(self.ok(self.manager, "node", "ls").stdout, expected)
        # Rows are sorted by hostname.
        self.assertEqual(self.ok(self.manager, "node", "ls", "-q", "-f", "role=worker").stdout.split(),
                         [rows["node2"][0], rows["node3"][0]])

    def test_04_inspect_pretty(self):
        pretty = self.ok(self.manager, "node", "inspect", "--pretty", "self").stdout
        self.assertIn("Hostname:              \tnode1\n", pretty)
        self.assertIn("Status:\n State:\t\t\tReady\n Availability:         \tActive\n Address:\t\t127.0.0.1\n",
                      pretty)
        self.assertIn("Manager Status:\n Address:\t\t%s\n Raft Status:\t\tReachable\n Leader:\t\tYes\n"
                      % self.manager.addr, pretty)
        self.assertRegex(pretty, r"Platform:\n Operating System:\t\S+\n Architecture:\t\t\S+\n")
        self.assertRegex(pretty, r"Resources:\n CPUs:\t\t\t\d+\n Memory:\t\t\S+\n")
        self.assertRegex(pretty, r"\nEngine Version:\t\t\S+\n")
        worker = self.ok(self.manager, "node", "inspect", "--pretty", "node2").stdout
        self.assertIn("Hostname:              \tnode2\n", worker)
        self.assertIn(" State:\t\t\tReady\n", worker)
        self.assertNotIn("Manager Status:", worker)
        # Library behaviour: node2 joined with --advertise-addr 127.0.0.2, but the manager reports the source address of
        # its connection (127.0.0.1 on loopback); only the presence of an address is checked.
        self.assertRegex(worker, r"\n Address:\t\t127\.0\.0\.\d+\n")

    def test_05_worker_refuses(self):
        for args in (["node", "ls"], ["node", "inspect", "self"], ["service", "ls"], ["swarm", "update",
                                                                                      "--task-history-limit", "3"]):
            r = self.fails(self.nodes[3], args, WORKER_REFUSAL)
            self.assertEqual(r.stderr, WORKER_REFUSAL + "\n")
        info = self.ok(self.nodes[3], "info").stdout
        self.assertIn("\n Swarm: active\n", info)
        self.assertIn("\n  Is Manager: false\n", info)
        self.assertIn("\n  Manager Addresses:\n   %s\n" % self.manager.addr, info)
        info = self.ok(self.manager, "info").stdout
        self.assertIn("\n  Is Manager: true\n  ClusterID: ", info)
        self.assertIn("\n  Managers: 1\n  Nodes: 3\n", info)

    def test_06_service_spreads(self):
        self.ok(self.manager, "service", "create", "-d", "--replicas", "4", "--name", "web",
                "-e", "SWARMCTL_CLUSTER_TEST=" + self.root, "busybox", "sleep", "300")
        ok = wait_for(lambda: len(self.running_tasks("web")) == 4, timeout=60)
        self.assertTrue(ok, self.manager.ctl("service", "ps", "web").stdout)
        nodes = {node for _, node in self.running_tasks("web")}
        self.assertGreaterEqual(len(nodes), 2, nodes)
        self.assertTrue(nodes <= {"node1", "node2", "node3"}, nodes)
        # The NODE column of the table shows the hostnames.
        table_nodes = {line.split()[3] for line in self.ok(self.manager, "service", "ps", "web").stdout.splitlines()[1:]}
        self.assertGreaterEqual(len(table_nodes & {"node1", "node2", "node3"}), 2, table_nodes)

    def test_07_drain_and_activate(self):
        if not any(node == "node2" for _, node in self.running_tasks("web")):
            # Make sure node2 has work to give away.
            self.ok(self.manager, "service", "scale", "-d", "web=6")
            wait_for(lambda: any(node == "node2" for _, node in self.running_tasks("web")), timeout=60)
        replicas = len(self.running_tasks("web"))
        r = self.ok(self.manager, "node", "update", "--availability", "drain", "node2")
        self.assertEqual((r.stdout, r.stderr), ("node2\n", ""))
        self.assertEqual(self.node_rows()["node2"][3], "Drain")
        moved = wait_for(lambda: (lambda t: len(t) == replicas and all(n != "node2" for _, n in t))(
            self.running_tasks("web")), timeout=60)
        self.assertTrue(moved, self.manager.ctl("service", "ps", "web").stdout)
        self.assertNotIn("node2", self.ok(self.manager, "node", "ps", "-f", "desired-state=running",
                                          "--format", "{{.Node}}", "node2").stdout)
        r = self.ok(self.manager, "node", "update", "--availability", "active", "node2")
        self.assertEqual(r.stdout, "node2\n")
        self.assertEqual(self.node_rows()["node2"][3], "Active")
        self.assertEqual(self.ok(self.manager, "node", "update", "--availability", "pause", "node3").stdout,
                         "node3\n")
        self.assertEqual(self.node_rows()["node3"][3], "Pause")
        self.ok(self.manager, "node", "update", "--availability", "active", "node3")

    def test_08_node_update_labels_and_errors(self):
        nid = self.node_rows()["node3"][0]
        self.assertEqual(self.ok(self.manager, "node", "update", "--label-add", "zone=a", "--label-add", "ssd",
                                 nid).stdout, nid + "\n")
        self.assertEqual(self.ok(self.manager, "node", "inspect", "-f", "{{json .Spec.Labels}}", "node3").stdout,
                         '{"ssd":"","zone":"a"}\n')
        self.ok(self.manager, "node", "update", "--label-rm", "ssd", "node3")
        self.assertEqual(self.ok(self.manager, "node", "inspect", "-f", "{{json .Spec.Labels}}", "node3").stdout,
                         '{"zone":"a"}\n')
        self.fails(self.manager, ["node", "update", "--label-rm", "nope", "node3"],
                   "key nope doesn't exist in node's labels")
        self.fails(self.manager, ["node", "update", "--availability", "drain", "nosuchnode"],
                   "Error response from daemon: node nosuchnode not found")
        r = self.fails(self.manager, ["node", "update", "--availability", "sleepy", "node3"])
        self.assertTrue(r.stderr.startswith("Error response from daemon: "), r.stderr)
        self.assertEqual(self.node_rows()["node3"][3], "Active")
        self.fails(self.manager, ["node", "update"], "\"swarmctl node update\" requires exactly 1 argument.")

    def test_09_promote_demote(self):
        nid = self.node_rows()["node2"][0]
        self.assertEqual(self.ok(self.manager, "node", "demote", "node2").stdout,
                         "Node %s is already a worker.\n" % nid)
        self.assertEqual(self.ok(self.manager, "node", "promote", "node1").stdout,
                         "Node %s is already a manager.\n" % self.node_rows()["node1"][0])
        # A promoted worker joins the managers (Reachable), a demoted one steps down again; docker's texts.
        self.assertEqual(self.ok(self.manager, "node", "promote", "node2").stdout,
                         "Node node2 promoted to a manager in the swarm.\n")
        deadline = time.monotonic() + 30
        while self.node_rows()["node2"][4] != "Reachable" and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.node_rows()["node2"][4], "Reachable")
        # The new manager's session may still update its node between the CLI's read and its write.
        for _ in range(20):
            r = self.manager.ctl("node", "demote", "node2")
            if r.returncode == 0 or "update out of sequence" not in r.stderr:
                break
            time.sleep(0.1)
        self.assertEqual((r.returncode, r.stdout), (0, "Manager node2 demoted in the swarm.\n"), r.stderr)
        self.assertEqual(self.node_rows()["node2"][4], "")
        r = self.fails(self.manager, ["node", "demote", "node1"])
        self.assertIn("attempting to demote the last manager of the swarm", r.stderr)

    def test_10_swarm_update(self):
        r = self.ok(self.manager, "swarm", "update", "--task-history-limit", "7", "--dispatcher-heartbeat", "4s",
                    "--cert-expiry", "720h")
        self.assertEqual((r.stdout, r.stderr), ("Swarm updated.\n", ""))
        info = self.ok(self.manager, "info").stdout
        self.assertIn("\n  Orchestration:\n   Task History Retention Limit: 7\n", info)
        self.assertIn("\n  Dispatcher:\n   Heartbeat Period: 4 seconds\n", info)
        self.assertIn("\n  CA Configuration:\n   Expiry Duration: 4 weeks\n", info)
        r = self.ok(self.manager, "swarm", "update")
        self.assertIn("Usage:  swarmctl swarm update [OPTIONS]", r.stdout)
        self.fails(self.manager, ["swarm", "update", "--task-history-limit", "x"],
                   "invalid argument \"x\" for \"--task-history-limit\" flag: strconv.ParseInt: parsing \"x\": "
                   "invalid syntax")
        self.ok(self.manager, "swarm", "update", "--dispatcher-heartbeat", "5s")

    def test_11_rotate_worker_token(self):
        old = self.token("worker")
        manager_token = self.token("manager")
        r = self.ok(self.manager, "swarm", "join-token", "--rotate", "worker")
        new = self.token("worker")
        self.assertNotEqual(new, old)
        self.assertEqual(r.stdout, "Successfully rotated worker join token.\n\n" + self.join_text("worker", new))
        self.assertEqual(self.token("manager"), manager_token)
        # A fresh node cannot join with the old token...
        n4 = self.start_node(4)
        r = self.fails(n4, ["swarm", "join", "--token", old, "--listen-addr", n4.addr, self.manager.addr])
        # Library behaviour: a rotated worker token must be refused with a clear error.
        self.assertEqual(r.stderr, "Error response from daemon: A valid join token is necessary to join this "
                                   "cluster\n")
        self.assertIn("\n Swarm: inactive\n", self.ok(n4, "info").stdout)
        # ...nor with garbage, but the new one works.
        r = self.fails(n4, ["swarm", "join", "--token", "SWMTKN-1-garbage", "--listen-addr", n4.addr,
                            self.manager.addr])
        self.assertTrue(r.stderr.startswith("Error response from daemon: "), r.stderr)
        self.assertIn("token", r.stderr)
        r = self.ok(n4, "swarm", "join", "--token", new, "--listen-addr", n4.addr, self.manager.addr)
        self.assertEqual(r.stdout, "This node joined a swarm as a worker.\n")
        self.assertTrue(self.wait_status("node4", "Ready"), self.node_rows())
        # -q with --rotate prints only the new token.
        r = self.ok(self.manager, "swarm", "join-token", "--rotate", "-q", "worker")
        self.assertRegex(r.stdout, "^%s\n$" % TOKEN_RE)
        self.assertNotEqual(r.stdout.strip(), new)
        self.assertEqual(r.stdout.strip(), self.token("worker"))

    def test_12_node_rm(self):
        rows = self.node_rows()
        self.assertIn("node4", rows)
        nid = rows["node4"][0]
        r = self.fails(self.manager, ["node", "rm", "node4"])
        # Library behaviour: docker's text for a node that is not down (node_rm_up.txt).
        self.assertEqual(r.stderr, "Error response from daemon: rpc error: code = FailedPrecondition desc = node %s "
                                   "is not down and can't be removed\n" % nid)
        self.assertIn("node4", self.node_rows())
        r = self.fails(self.manager, ["node", "rm", "nosuchnode", "node1"])
        lines = r.stderr.splitlines()
        self.assertEqual(lines[0], "Error response from daemon: node nosuchnode not found")
        self.assertTrue(lines[1].startswith("Error response from daemon: ") and "demoted" in lines[1], lines)
        r = self.ok(self.manager, "node", "rm", "--force", "node4")
        self.assertEqual((r.stdout, r.stderr), ("node4\n", ""))
        self.assertNotIn("node4", self.node_rows())
        self.fails(self.manager, ["node", "rm"], "\"swarmctl node rm\" requires at least 1 argument.")

    def test_13_leave(self):
        self.fails(self.manager, ["swarm", "leave"], LEAVE_MANAGER)
        r = self.ok(self.nodes[3], "swarm", "leave")
        self.assertEqual((r.stdout, r.stderr), ("Node left the swarm.\n", ""))
        self.assertIn("\n Swarm: inactive\n", self.ok(self.nodes[3], "info").stdout)
        # Library behaviour: the manager sees the node go down and moves its tasks.
        self.assertTrue(self.wait_status("node3", "Down", timeout=60), self.node_rows())
        moved = wait_for(lambda: (lambda t: len(t) >= 4 and all(n in ("node1", "node2") for _, n in t))(
            self.running_tasks("web")), timeout=60)
        self.assertTrue(moved, self.manager.ctl("service", "ps", "web").stdout)
        r = self.fails(self.nodes[3], ["swarm", "leave"])
        self.assertTrue(r.stderr.startswith("Error response from daemon: "), r.stderr)
        # A down node can be removed without --force.
        self.assertEqual(self.ok(self.manager, "node", "rm", "node3").stdout, "node3\n")

    def test_14_bad_inputs(self):
        n3 = self.nodes[3]
        r = self.fails(n3, ["swarm", "join", "--token", "garbage", "--listen-addr", n3.addr, self.manager.addr])
        self.assertTrue(r.stderr.startswith("Error response from daemon: "), r.stderr)
        self.assertIn("token", r.stderr)
        self.assertEqual(r.stdout, "")
        self.fails(n3, ["swarm", "join", "--token", self.token("worker")],
                   "\"swarmctl swarm join\" requires exactly 1 argument.")
        self.fails(n3, ["swarm", "join", "--availability", "sometimes", "--token", "x", self.manager.addr],
                   "invalid availability \"sometimes\", only active, pause and drain are supported")
        self.fails(self.manager, ["swarm", "join-token", "--rotate", "admin"], "unknown role admin")
        self.fails(self.manager, ["node", "update", "--availability", "drain", "nosuchnode"],
                   "Error response from daemon: node nosuchnode not found")
        self.fails(self.manager, ["swarm", "leave", "extra"], "\"swarmctl swarm leave\" accepts no arguments.")


if __name__ == "__main__":
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(ClusterTest)
    result = unittest.TextTestRunner(verbosity=2, failfast=False).run(suite)
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed - len(result.skipped), failed))
    sys.exit(0 if failed == 0 and result.testsRun > 0 else 1)
