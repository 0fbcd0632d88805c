"""Highly available managers: 3 managers + 1 worker as real swarmd processes on 127.0.0.1-4.

  A. SIGKILL the leader during a stream of service create/update/remove calls sent to every
     manager, recorded in a history (history.py): a new leader is elected among the other two,
     writes resume, every acknowledged write is in the final state and nothing never requested
     is; services converge; the old leader comes back as a follower and catches up.
  B. Kill 2 of 3 managers: writes on the survivor fail quickly with a "no leader / quorum"
     error, reads answer, tasks keep running; init --force-new-cluster on the restarted survivor
     keeps every service and writes work; a fresh manager joins and becomes reachable.
  C. Promote the worker to manager and demote it back; a demotion that would lose quorum is
     refused.

Managers run the "fake" runtime (their tasks are not the point), the worker runs real
processes ("process" runtime, sleep). No call may take longer than 30 s: while there is no
leader, calls must fail with a clean swarm error after a bounded wait.

Environment:
  SWARM_HA_MANAGERS=1  harness check on a one-manager swarm (nodes 2 and 3 join as workers):
                       A kills and restarts the only manager instead of failing over; B and C
                       are skipped. Default 3.
  SWARM_HA_SEED=N      seed of the writers' choices (printed by test A).
  SWARM_HA_KEEP=1      keep the temporary directory (state dirs, logs) after a failure.
"""

import functools
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "python"))
sys.path.insert(0, HERE)
import swarm  # noqa: E402
from history import History  # noqa: E402

SWARMD = os.environ.get("SWARMD", "build/examples/swarmd")
MANAGERS = int(os.environ.get("SWARM_HA_MANAGERS", "3"))
HA = MANAGERS > 1
CALL_TIMEOUT_MS = 40000  # the client-side limit; a call taking more than SLOW_CALL_S is a failure anyway
SLOW_CALL_S = 30.0
LEADERLESS_WRITE_S = 15.0  # quorum lost: how quickly a write must be refused
ELECTION_S = 20.0  # leader SIGKILL -> a new leader visible from the survivors

# Errors after which the write definitely did not happen (the manager validated and refused it).
DEFINITE = (swarm.InvalidArgument, swarm.NotFound, swarm.AlreadyExists, swarm.Conflict)


def wait_for(cond, timeout=30, what="condition", interval=0.05):
    """Polls cond() until it returns something true. Swarm errors count as "not yet" (an election
    may be under way); the last value or error is reported on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = cond()
            if last:
                return last
        except swarm.SwarmError as e:
            last = "%s: %s" % (type(e).__name__, e)
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %g s waiting for %s (last: %r)" % (timeout, what, last))
        time.sleep(interval)


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
            return port
        except OSError:
            continue
    raise AssertionError("no free port")


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class Daemon:
    """One swarmd process; `api` is a connected handle, client() makes more."""

    def __init__(self, tmp, index, port, runtime):
        self.index = index
        self.hostname = "node%d" % index
        self.addr = "127.0.0.%d:%d" % (index, port)
        self.state = os.path.join(tmp, "n%d" % index)
        self.sock = os.path.join(tmp, "n%d.sock" % index)
        self.logpath = os.path.join(tmp, "n%d.log" % index)
        self.runtime = runtime
        self.proc = None
        self.api = None

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        assert not self.running, "%s is already running" % self.hostname
        if os.path.exists(self.sock):
            os.unlink(self.sock)  # left by a killed daemon: wait for the new one's socket
        with open(self.logpath, "ab") as log:
            log.write(b"==== test: starting swarmd at %.3f\n" % time.monotonic())
            log.flush()
            self.proc = subprocess.Popen([SWARMD, "--state-dir", self.state, "--listen-addr", self.addr,
                                          "--control-socket", self.sock, "--hostname", self.hostname,
                                          "--runtime", self.runtime], stdout=log, stderr=log)
        wait_for(lambda: os.path.exists(self.sock) or self.proc.poll() is not None, 30, self.hostname + " to start")
        if self.proc.poll() is not None:
            raise AssertionError("%s exited with %s:\n%s" % (self.hostname, self.proc.returncode, self.tail()))
        self.api = self.client()
        return self.api

    def client(self):
        c = swarm.Cluster.connect("unix://" + self.sock)
        c.set_call_timeout(CALL_TIMEOUT_MS)
        return c

    def stop(self, sig=signal.SIGTERM):
        if self.api:
            self.api.close()
            self.api = None
        if self.running:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                print("%s did not stop within 30 s of signal %d: killing it" % (self.hostname, sig))
                self.proc.kill()
                self.proc.wait(30)
        self.proc = None

    def kill(self):
        self.stop(signal.SIGKILL)

    def tail(self, lines=60):
        try:
            with open(self.logpath, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError as e:
            return "(no log: %s)" % e
        return "\n".join(text.splitlines()[-lines:])


def logs_on_failure(test):
    """Prints every daemon's log tail when the test fails (before tearDown removes them)."""
    @functools.wraps(test)
    def wrapper(self):
        try:
            test(self)
        except unittest.SkipTest:
            raise
        except BaseException:
            self.dump_logs()
            raise
    return wrapper


def manager_status(node):
    return node.attrs.get("ManagerStatus")


class HATest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="swarm-ha-")
        self.port = free_port()
        self.managers = [Daemon(self.tmp, i, self.port, "fake") for i in (1, 2, 3)]
        self.worker = Daemon(self.tmp, 4, self.port, "process")
        self.daemons = self.managers + [self.worker]
        if not HA:  # harness check: one manager, nodes 2 and 3 join as workers
            self.workers = self.managers[1:] + [self.worker]
            self.managers = self.managers[:1]
        else:
            self.workers = [self.worker]
        self.pids = set()
        self.failed = False
        try:
            self.start_cluster()
        except BaseException:
            self.dump_logs()
            self.stop_all()  # a failed setUp gets no tearDown: leave no process behind
            raise

    def start_cluster(self):
        m1 = self.managers[0]
        m1.start().init(AdvertiseAddr=m1.addr)
        self.tokens = m1.api.join_tokens
        self.assertTrue(self.tokens.get("Manager", "").startswith("SWMTKN-1-"), self.tokens)
        for d in self.daemons[1:]:
            role = "Manager" if d in self.managers else "Worker"
            d.start().join(m1.addr, self.tokens[role])
        self.leader_daemon = self.check_cluster(self.managers, self.workers)

    def tearDown(self):
        self.stop_all()

    def stop_all(self):
        for d in self.daemons:
            d.stop()
        # Tasks of the process runtime outlive swarmd (they are re-adopted): stop them, and let their
        # shims write their exit files and go before the directory is removed.
        tasks, shims = self.task_pids_on_disk()
        for pid in self.pids | tasks:
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        deadline = time.monotonic() + 10
        while any(alive(p) for p in self.pids | tasks | shims) and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.failed and os.environ.get("SWARM_HA_KEEP"):
            print("keeping " + self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def task_pids_on_disk(self):
        """(task PIDs, shim PIDs) of the process runtime's live tasks, from the task dirs' files."""
        pids, shims = set(), set()
        for root, _, files in os.walk(self.tmp):
            if "pid" in files:
                try:
                    pid = int(open(os.path.join(root, "pid")).read().split()[0])
                    if b"sleep" in open("/proc/%d/cmdline" % pid, "rb").read():
                        pids.add(pid)
                except (OSError, ValueError, IndexError):
                    pass
            if "state.json" in files:
                try:
                    shim = int(json.load(open(os.path.join(root, "state.json"))).get("ShimPID", 0))
                    if shim > 0 and b"swarmd" in open("/proc/%d/cmdline" % shim, "rb").read():
                        shims.add(shim)
                except (OSError, ValueError, AttributeError):
                    pass
        return pids, shims

    def dump_logs(self):
        self.failed = True
        for d in self.daemons:
            if not os.path.exists(d.logpath):
                continue
            print("\n---- %s (%s, %s) log tail ----\n%s" % (d.hostname, d.addr,
                                                           "running" if d.running else "stopped", d.tail()))
        sys.stdout.flush()

    # ---- views of the cluster ---------------------------------------------------------------

    def view(self, api):
        """hostname -> (role, state, leader, reachability, manager addr) as `api` sees the nodes."""
        out = {}
        for n in api.nodes.list():
            ms = manager_status(n) or {}
            out[n.hostname] = (n.role, n.state, bool(ms.get("Leader")), ms.get("Reachability"), ms.get("Addr"))
        return out

    def leader(self, among):
        """The Daemon that every one of `among` (running) names as leader, or None while they disagree.
        What each one said is kept in self.leaders_seen for error messages."""
        self.leaders_seen = seen = {}
        for d in among:
            if not d.running or d.api is None:
                seen[d.hostname] = "not running"
                continue
            try:
                seen[d.hostname] = [h for h, v in self.view(d.api).items() if v[2]]
            except swarm.SwarmError as e:
                seen[d.hostname] = "%s: %s" % (type(e).__name__, e)
        names = {tuple(v) if isinstance(v, list) else v for v in seen.values()}
        if len(names) != 1:
            return None
        name = names.pop()
        if not isinstance(name, tuple) or len(name) != 1:
            return None
        found = [d for d in among if d.hostname == name[0]]
        return found[0] if found else None

    def wait_leader(self, among, timeout, what):
        try:
            return wait_for(lambda: self.leader(among), timeout, what)
        except AssertionError as e:
            raise AssertionError("%s; leaders named by each: %r" % (e, getattr(self, "leaders_seen", None)))

    def check_cluster(self, managers, workers, timeout=60):
        """Waits until every manager sees all nodes ready, the roles right, managers reachable and one
        leader; returns the leader's Daemon."""
        expected = {d.hostname: ("manager" if d in managers else "worker") for d in managers + workers}

        views = {}

        def settled():
            views.clear()
            for m in managers:
                views[m.hostname] = self.view(m.api)
            for v in views.values():
                if {h: r[0] for h, r in v.items() if h in expected} != expected:
                    return False
                if any(v[h][1] != "ready" for h in expected):
                    return False
            leader = self.leader(managers)
            # Reachability as the leader sees it (test_0_setup checks that every manager agrees).
            if leader is None or any(r[0] == "manager" and r[3] != "reachable"
                                     for h, r in views[leader.hostname].items() if h in expected):
                return False
            return leader

        try:
            leader = wait_for(settled, timeout, "%d managers and %d workers ready, managers reachable, one leader" %
                              (len(managers), len(workers)))
        except AssertionError as e:
            raise AssertionError("%s\nlast views (role, state, leader, reachability, addr):\n%s" %
                                 (e, json.dumps(views, indent=1, sort_keys=True)))
        v = self.view(leader.api)
        for d in managers + workers:
            role, state, is_leader, reach, addr = v[d.hostname]
            if role == "manager":
                self.assertEqual(addr, d.addr, "ManagerStatus.Addr of %s" % d.hostname)
            else:
                self.assertIsNone(reach, "a worker has ManagerStatus: %r" % (v[d.hostname],))
                self.assertFalse(is_leader)
        nodes = leader.api.nodes.list()
        self.assertEqual(sum(1 for n in nodes if n.leader), 1)
        self.assertEqual(sum(1 for n in nodes if n.role == "manager"),
                         sum(1 for r in expected.values() if r == "manager"))
        return leader

    def running_tasks(self, api, service=None):
        filters = {"desired-state": ["running"]}
        if service:
            filters["service"] = [service]
        tasks = [t for t in api.tasks.list(filters) if t.state == "running"]
        for t in tasks:
            pid = t.attrs.get("Status", {}).get("ContainerStatus", {}).get("PID")
            if pid:
                self.pids.add(pid)
        return tasks

    @staticmethod
    def spec(name, label=None, replicas=1, constraints=None):
        spec = {"Name": name, "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Args": ["sleep", "300"]}},
                "Mode": {"Replicated": {"Replicas": replicas}}}
        if label is not None:
            spec["Labels"] = {"history": label}
        if constraints:
            spec["TaskTemplate"]["Placement"] = {"Constraints": constraints}
        return spec

    @staticmethod
    def history_state(api):
        return {s.name: s.spec.get("Labels", {}).get("history") for s in api.services.list()
                if s.name.startswith("hist-")}

    def timed(self, what, fn, limit=SLOW_CALL_S):
        start = time.monotonic()
        try:
            return fn()
        finally:
            took = time.monotonic() - start
            self.assertLess(took, limit, "%s took %.1f s" % (what, took))

    # ---- the setup alone --------------------------------------------------------------------

    @logs_on_failure
    def test_0_setup(self):
        """The cluster as started: same view from every manager, workers refuse control calls."""
        views = {}

        def agree():
            views.update((m.hostname, self.view(m.api)) for m in self.managers)
            return all(v == views[self.leader_daemon.hostname] for v in views.values())
        try:
            wait_for(agree, 30, "every manager to show the same nodes, roles, states, leader and reachability")
        except AssertionError as e:
            raise AssertionError("%s:\n%s" % (e, json.dumps(views, indent=1, sort_keys=True)))
        self.assertEqual(sorted(views[self.leader_daemon.hostname]), ["node1", "node2", "node3", "node4"])
        for w in self.workers:
            with self.assertRaises(swarm.Unavailable):
                w.api.services.list()
        # A write sent to any manager is visible from every manager.
        for i, m in enumerate(self.managers):
            m.api.services.create(self.spec("setup-%d" % i, constraints=["node.role==manager"]))
        names = sorted("setup-%d" % i for i in range(len(self.managers)))
        for m in self.managers:
            wait_for(lambda: sorted(s.name for s in m.api.services.list()) == names, 30,
                     "every service visible from " + m.hostname)

    # ---- A: leader SIGKILL under a stream of writes -------------------------------------------

    @logs_on_failure
    def test_a_leader_kill_keeps_acknowledged_writes(self):
        seed = int(os.environ.get("SWARM_HA_SEED", "0")) or random.randrange(1, 1 << 30)
        print("writers' seed: SWARM_HA_SEED=%d" % seed)
        h = History()
        stop = threading.Event()
        writers = [Writer(self, i, h, stop, random.Random(seed + i)) for i in range(3)]
        for w in writers:
            w.start()
        try:
            t_start = time.monotonic()
            wait_for(lambda: h.count("ok") >= 20 and time.monotonic() - t_start > 1, 60,
                     "20 acknowledged writes before the kill")
            old = self.leader(self.managers)
            self.assertIsNotNone(old)
            survivors = [m for m in self.managers if m is not old]
            old_id = old.api.nodes.get("self").id
            t_kill = time.monotonic()
            old.kill()
            print("SIGKILLed the leader %s after %d acknowledged writes" % (old.hostname, h.count("ok")))
            if HA:
                new = self.wait_leader(survivors, ELECTION_S, "a new leader among " +
                                       ", ".join(m.hostname for m in survivors))
            else:
                old.start()
                survivors = [old]
                new = self.wait_leader(survivors, ELECTION_S, "the restarted manager to lead")
            t_elected = time.monotonic()
            print("new leader %s visible after %.2f s" % (new.hostname, t_elected - t_kill))
            self.assertLessEqual(t_elected - t_kill, ELECTION_S, "the new leader took too long to show "
                                 "(a nodes.list call on a survivor may have blocked)")
            wait_for(lambda: h.count("ok", after=t_elected) >= 30 and time.monotonic() - t_elected > 2, 60,
                     "30 acknowledged writes after the failover")
            first = min(op.t_complete for op in h.ops() if op.status == "ok" and
                        op.t_invoke + h.start > t_kill)
            print("SIGKILL -> first acknowledged write invoked after it: %.2f s" % (first + h.start - t_kill))
        finally:
            stop.set()
            for w in writers:
                w.join(CALL_TIMEOUT_MS / 1000 + 15)
        hung = [w.name for w in writers if w.is_alive()]
        self.assertEqual(hung, [], "writers stuck in a call")
        for w in writers:
            w.close()
        problems = [p for w in writers for p in w.problems]
        print("history: %d ops, %d ok, %d failed, %d unknown" % (h.count(), h.count("ok"), h.count("fail"),
                                                                   h.count("info")))
        failed = {}
        for op in h.ops():
            if op.status == "fail":
                kind = op.error.split(":")[0]
                failed[kind] = failed.get(kind, 0) + 1
        print("  failed (definitely not applied): %s" % (", ".join("%s x%d" % kv for kv in sorted(failed.items()))
                                                         or "none"))
        unknown = [op for op in h.ops() if op.status == "info"]
        for op in unknown[:8]:
            print("  unknown outcome: %s: %s" % (op.describe(), op.error))
        self.assertEqual(problems, [], "calls that hung or raised something else than a swarm error")

        # Every surviving manager ends up with the same state; it must satisfy the history.
        final = wait_for(lambda: all(self.history_state(m.api) == self.history_state(new.api) for m in survivors)
                         and self.history_state(new.api), 30, "the surviving managers to agree")
        violations = h.check(final)
        self.assertEqual(violations, [], "history check failed (history printed above)")

        # Services converge: one running task each, none on the dead manager.
        def converged():
            tasks = [t for t in self.running_tasks(new.api) if not HA or t.node_id != old_id]
            services = {s.id: s.name for s in new.api.services.list() if s.name.startswith("hist-")}
            per = {}
            for t in tasks:
                if t.service_id in services:
                    per.setdefault(services[t.service_id], []).append(t)
            return len(per) == len(services) and all(len(ts) == 1 for ts in per.values()) and per
        wait_for(converged, 90, "every service to run its one task")
        if HA:
            self.assertTrue(wait_for(lambda: self.view(new.api)[old.hostname][3] == "unreachable", 30,
                                     "the killed leader shown unreachable"))
            # The old leader comes back as a follower and catches up.
            old.start()
            # A returning follower must not depose a healthy leader (each election stalls writes).
            self.assertEqual(self.check_cluster(self.managers, self.workers).hostname, new.hostname,
                             "the leader changed when %s came back" % old.hostname)
            wait_for(lambda: self.history_state(old.api) == final, 30, "the old leader to catch up")

    # ---- B: quorum loss and --force-new-cluster ------------------------------------------------

    @logs_on_failure
    def test_b_quorum_loss_and_force_new_cluster(self):
        lead = self.leader_daemon.api
        lead.services.create(self.spec("keep", replicas=2, constraints=["node.hostname==node4"]))
        for i in range(3):
            self.managers[i % len(self.managers)].api.services.create(self.spec("hist-b%d" % i, "b%d" % i))
        keep = wait_for(lambda: len(self.running_tasks(lead, "keep")) == 2 and self.running_tasks(lead, "keep"),
                        60, "keep's 2 tasks running on the worker")
        pids = [t.attrs["Status"]["ContainerStatus"]["PID"] for t in keep]
        self.assertTrue(all(alive(p) for p in pids), pids)
        if not HA:
            self.skipTest("quorum loss needs 3 managers")
        survivor = [m for m in self.managers if m is not self.leader_daemon][-1]
        wait_for(lambda: sorted(s.name for s in survivor.api.services.list()) ==
                 ["hist-b0", "hist-b1", "hist-b2", "keep"], 30, "the survivor to have every service")
        before = {s.name: s.spec for s in survivor.api.services.list()}
        for m in self.managers:
            if m is not survivor:
                m.kill()
        print("killed %s; %s survives" % (", ".join(m.hostname for m in self.managers if m is not survivor),
                                         survivor.hostname))
        api = survivor.api
        # Writes are refused quickly and clearly, twice (the second time it knows there is no leader).
        for attempt in (1, 2):
            start = time.monotonic()
            with self.assertRaises(swarm.SwarmError) as cm:
                api.services.create(self.spec("during-loss-%d" % attempt))
            took = time.monotonic() - start
            print("write %d without quorum: %s after %.2f s: %s" % (attempt, type(cm.exception).__name__, took,
                                                                   cm.exception))
            self.assertLess(took, LEADERLESS_WRITE_S, "a write without quorum took %.1f s to fail" % took)
            self.assertRegex(str(cm.exception), re.compile("leader|quorum", re.I))
        # Reads answer from local state.
        services = self.timed("services.list without quorum", api.services.list, 5)
        self.assertEqual({s.name: s.spec for s in services if not s.name.startswith("during-loss")}, before)
        nodes = self.timed("nodes.list without quorum", api.nodes.list, 5)
        self.assertEqual(sorted(n.hostname for n in nodes), ["node1", "node2", "node3", "node4"])
        self.timed("tasks.list without quorum", lambda: api.tasks.list({"service": ["keep"]}), 5)
        # Tasks keep running on the worker.
        self.assertTrue(all(alive(p) for p in pids), "keep's processes died: %r" % pids)

        # Recovery: restart the survivor and force a new cluster from its state.
        survivor.stop()
        api = survivor.start()
        self.timed("init ForceNewCluster", lambda: api.init(ForceNewCluster=True, AdvertiseAddr=survivor.addr))
        self.assertIs(self.wait_leader([survivor], 30, survivor.hostname + " leading alone"), survivor)
        after = {s.name: s.spec for s in api.services.list()}
        leaked = sorted(n for n in after if n.startswith("during-loss"))
        if leaked:
            print("note: writes refused during the quorum loss are present after recovery: %s" % leaked)
        self.assertEqual({n: s for n, s in after.items() if n not in leaked}, before)
        api.services.create(self.spec("hist-after", "after"))
        wait_for(lambda: len(self.running_tasks(api, "keep")) == 2, 60, "keep's tasks running again")
        self.assertTrue(all(alive(p) for p in pids), "keep's processes died during the recovery: %r" % pids)
        # A fresh manager joins the new one-manager cluster.
        fresh = Daemon(self.tmp, 5, self.port, "fake")
        self.daemons.append(fresh)
        fresh.start().join(survivor.addr, api.join_tokens["Manager"])
        wait_for(lambda: self.view(api)["node5"][:2] == ("manager", "ready") and
                 self.view(api)["node5"][3] == "reachable", 60, "node5 a reachable manager")
        self.assertEqual(self.view(api)["node5"][4], fresh.addr)
        self.assertIs(self.wait_leader([survivor, fresh], 30, "both managers naming the leader"), survivor)
        fresh.api.services.create(self.spec("hist-via-fresh", "fresh"))
        wait_for(lambda: {"hist-after", "hist-via-fresh", "keep"} <= {s.name for s in fresh.api.services.list()} and
                 {"hist-via-fresh"} <= {s.name for s in api.services.list()}, 30, "both managers to agree")

    # ---- C: promote and demote -----------------------------------------------------------------

    @logs_on_failure
    def test_c_promote_demote(self):
        if not HA:
            m = self.managers[0].api.nodes.get("self")
            with self.assertRaises(swarm.SwarmError) as cm:
                self.managers[0].api.nodes.update(m.id, m.version, dict(m.attrs["Spec"], Role="worker"))
            print("demoting the only manager: %s: %s" % (type(cm.exception).__name__, cm.exception))
            self.assertEqual(self.managers[0].api.nodes.get("self").role, "manager")
            self.skipTest("promotion needs 3 managers")
        api = self.managers[1].api  # a follower's API: node updates are forwarded to the leader
        w = api.nodes.get(self.worker.hostname)
        spec = dict(w.attrs["Spec"], Role="manager")
        api.nodes.update(w.id, w.version, spec)
        self.check_cluster(self.managers + [self.worker], [])
        self.assertEqual(sorted(n.hostname for n in api.nodes.list() if n.role == "manager"),
                         ["node1", "node2", "node3", "node4"])
        # The promoted node answers control calls itself now.
        wait_for(lambda: isinstance(self.worker.api.services.list(), list), 30, "node4 answering control calls")
        self.worker.api.services.create(self.spec("via-promoted", constraints=["node.role==manager"]))
        wait_for(lambda: "via-promoted" in [s.name for s in api.services.list()], 30, "the write through node4")

        w = api.nodes.get(self.worker.hostname)
        api.nodes.update(w.id, w.version, dict(w.attrs["Spec"], Role="worker"))
        wait_for(lambda: (lambda n: n.role == "worker" and manager_status(n) is None)(
            api.nodes.get(self.worker.hostname)), 30, "node4 demoted: role worker, no ManagerStatus")
        self.check_cluster(self.managers, [self.worker])
        wait_for(lambda: self.refuses_control(self.worker.api), 30, "node4 refusing control calls again")

        # With one follower down, demoting the other would leave 1 of 2 voters: refused.
        leader = self.wait_leader(self.managers, 30, "one leader")
        down, other = [m for m in self.managers if m is not leader]
        down.kill()
        wait_for(lambda: self.view(leader.api)[down.hostname][3] == "unreachable", 30,
                 down.hostname + " unreachable")
        o = leader.api.nodes.get(other.hostname)
        with self.assertRaises(swarm.SwarmError) as cm:
            leader.api.nodes.update(o.id, o.version, dict(o.attrs["Spec"], Role="worker"))
        print("demotion losing quorum refused: %s: %s" % (type(cm.exception).__name__, cm.exception))
        self.assertRegex(str(cm.exception), re.compile("quorum", re.I))
        o = leader.api.nodes.get(other.hostname)
        self.assertEqual((o.role, manager_status(o).get("Reachability")), ("manager", "reachable"))
        # Still a working majority.
        other.api.services.create(self.spec("after-refusal", constraints=["node.role==manager"]))
        wait_for(lambda: "after-refusal" in [s.name for s in leader.api.services.list()], 30, "a write after it")

    @staticmethod
    def refuses_control(api):
        try:
            api.services.list()
        except swarm.Unavailable:
            return True
        return False


class Writer(threading.Thread):
    """A client writing services through the managers, one at a time, recording into a History.

    It starts at manager `index` and moves to the next one after an error of unknown outcome (the
    manager may be dead). Values and new names are unique; updates and removes pick any service
    some writer created."""

    shared_lock = threading.Lock()

    def __init__(self, test, index, history, stop, rng):
        super().__init__(name="writer-%d" % index, daemon=True)
        self.test = test
        self.index = index
        self.h = history
        self.stop = stop
        self.rng = rng
        self.daemons = test.managers
        self.handles = [d.client() for d in self.daemons]
        self.pos = index % len(self.daemons)
        self.seq = 0
        self.problems = []
        self.constraints = ["node.role==manager"]  # fake tasks: the managers run the fake runtime
        if not hasattr(test, "known_keys"):
            test.known_keys = []

    def close(self):
        for c in self.handles:
            c.close()

    def run(self):
        while not self.stop.is_set():
            try:
                self.step()
            except Exception as e:  # a bug in the harness or the binding: report it, do not die silently
                self.problems.append("%s: %s: %r" % (self.name, type(e).__name__, e))
                self.pos = (self.pos + 1) % len(self.handles)
            self.stop.wait(0.01)  # pacing only

    def value(self):
        self.seq += 1
        return "c%d-%d" % (self.index, self.seq)

    def call(self, op, fn):
        start = time.monotonic()
        try:
            result = fn()
        except DEFINITE as e:
            self.h.fail(op, "%s: %s" % (type(e).__name__, e))
        except swarm.SwarmError as e:
            self.h.info(op, "%s: %s [%s]" % (type(e).__name__, e, self.daemons[self.pos].hostname))
            self.pos = (self.pos + 1) % len(self.handles)
        except BaseException as e:
            self.h.info(op, repr(e))
            raise
        else:
            self.h.ok(op, "[%s]" % self.daemons[self.pos].hostname)
            return result
        finally:
            took = time.monotonic() - start
            if took > SLOW_CALL_S:
                self.problems.append("%s took %.1f s" % (op.describe(), took))

    def step(self):
        api = self.handles[self.pos]
        with self.shared_lock:
            keys = list(self.test.known_keys)
        r = self.rng.random()
        if not keys or r < 0.4:
            value = self.value()
            key = "hist-" + value
            op = self.h.invoke(self.name, "create", key, value)
            if self.call(op, lambda: api.services.create(self.test.spec(key, value, constraints=self.constraints))):
                with self.shared_lock:
                    self.test.known_keys.append(key)
            return
        key = self.rng.choice(keys)
        if r < 0.93:
            try:
                svc = api.services.get(key)  # a read: not part of the history
            except DEFINITE:
                return
            except swarm.SwarmError:
                self.pos = (self.pos + 1) % len(self.handles)
                return
            value = self.value()
            spec = json.loads(json.dumps(svc.spec))
            spec.setdefault("Labels", {})["history"] = value
            op = self.h.invoke(self.name, "update", key, value)
            self.call(op, lambda: api.services.update(key, svc.version, spec))
        else:
            op = self.h.invoke(self.name, "remove", key)
            self.call(op, lambda: api.services.remove(key) or True)


if __name__ == "__main__":
    unittest.main()
