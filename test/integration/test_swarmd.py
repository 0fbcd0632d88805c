"""swarmd as users run it: a real daemon, the process runtime, the control socket.

Covers the single-node walkthrough (services converge, a killed task is
replaced and kept in history, scale, rm leaves no process), restart
policies and rejected commands with real processes, and re-adoption of
running tasks when swarmd is killed with SIGKILL or stopped with SIGTERM.
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


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


class Daemon:
    def __init__(self, tmp, name="node"):
        self.state = os.path.join(tmp, name)
        self.sock = os.path.join(tmp, name + ".sock")
        self.log = open(os.path.join(tmp, name + ".log"), "ab")
        self.proc = None

    def start(self):
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.proc = subprocess.Popen([SWARMD, "--state-dir", self.state, "--listen-addr", "127.0.0.1:%d" % port,
                                      "--control-socket", self.sock, "--hostname", "testhost"],
                                     stdout=self.log, stderr=self.log)
        wait_for(lambda: os.path.exists(self.sock), what="the control socket")
        return swarm.Cluster.connect("unix://" + self.sock)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        self.proc = None

    def close(self):
        self.stop()
        self.log.close()


class SwarmdTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="swarmd-test-")
        self.daemon = Daemon(self.tmp)
        self.pids = set()
        try:
            self.c = self.daemon.start()
            self.c.init()
        except BaseException:
            self.daemon.close()  # a failed setUp gets no tearDown: leave no process behind
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise

    def tearDown(self):
        try:
            for s in self.c.services.list():
                s.remove()
            wait_for(lambda: not self.c.tasks.list(), what="all tasks gone")
        finally:
            self.c.close()
            self.daemon.close()
            for pid in self.pids:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
            shutil.rmtree(self.tmp, ignore_errors=True)

    def create(self, name, args, replicas=1, restart=None, mode=None):
        spec = {"Name": name, "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Args": args}},
                "Mode": mode or {"Replicated": {"Replicas": replicas}}}
        if restart:
            spec["TaskTemplate"]["RestartPolicy"] = restart
        return self.c.services.create(spec)

    def running(self, name, n):
        tasks = [t for t in self.c.tasks.list({"service": [name], "desired-state": ["running"]})
                 if t.state == "running"]
        if len(tasks) != n:
            return None
        pids = [t.attrs["Status"]["ContainerStatus"]["PID"] for t in tasks]
        self.pids.update(pids)
        return tasks

    def test_timing_flags_are_checked(self):
        """--leader-wait and --raft-tick take milliseconds in range; anything else is refused before starting."""
        state = os.path.join(self.tmp, "flags")
        cases = [(["--raft-tick", "abc"], "swarmd: --raft-tick: not a number of milliseconds: abc\n"),
                 (["--raft-tick", "5"], "swarmd: options: \"RaftTick\" must be milliseconds from 10 to 60000\n"),
                 (["--leader-wait", "99999999"],
                  "swarmd: options: \"LeaderWait\" must be milliseconds from 0 to 3600000\n")]
        for flags, err in cases:
            r = subprocess.run([SWARMD, "--state-dir", state] + flags, capture_output=True, text=True, timeout=30)
            self.assertEqual((r.returncode, r.stderr), (1, err), flags)

    def test_raft_spec_applies_at_once(self):
        """swarm update of Spec.Raft reaches the running Raft member (ticks of --raft-tick, default 100 ms)."""
        info = self.c.inspect()
        spec = info["Spec"]
        spec["Raft"]["ElectionTick"] = 20
        spec["Raft"]["SnapshotInterval"] = 2000
        self.c.update(spec=spec, version=info["Version"]["Index"])
        logpath = self.daemon.log.name
        wait_for(lambda: "Raft timing: heartbeat 100 ms, election 2000 ms, snapshot every 2000 entries"
                 in open(logpath).read(), what="the new Raft timing in the log")

    def test_walkthrough(self):
        self.create("web", ["sleep", "300"], replicas=2)
        tasks = wait_for(lambda: self.running("web", 2), what="2 running tasks")
        self.assertEqual(sorted(t.slot for t in tasks), [1, 2])
        self.assertEqual(self.c.services.get("web").replicas, 2)
        victim = [t for t in tasks if t.slot == 1][0]
        pid = victim.attrs["Status"]["ContainerStatus"]["PID"]
        self.assertTrue(alive(pid))
        os.kill(pid, signal.SIGKILL)
        # A replacement runs in slot 1 (after the 5 s restart delay); the dead task stays in history.
        def replaced():
            now = self.running("web", 2)  # read once: the state may change between two reads
            return now and victim.id not in [t.id for t in now]

        wait_for(replaced, 40, "a replacement")
        dead = self.c.tasks.get(victim.id)
        self.assertEqual(dead.desired_state, "shutdown")
        self.assertEqual(dead.state, "failed")
        self.assertIn("signal", dead.attrs["Status"].get("Err", "") + dead.attrs["Status"].get("Message", ""))

        self.c.services.get("web").scale(5)
        tasks = wait_for(lambda: self.running("web", 5), what="5 running tasks")
        pids = [t.attrs["Status"]["ContainerStatus"]["PID"] for t in tasks]
        self.c.services.remove("web")
        wait_for(lambda: not self.c.tasks.list(), what="tasks deleted")
        wait_for(lambda: not any(alive(p) for p in pids), what="no process left")

    def test_rejected_command_is_replaced(self):
        self.create("bad", ["no-such-binary-here"], restart={"Condition": "any", "Delay": 100000000})
        task = wait_for(lambda: [t for t in self.c.tasks.list({"service": ["bad"]}) if t.state == "rejected"],
                        what="a rejected task")[0]
        self.assertIn("no-such-binary-here", task.attrs["Status"]["Err"])
        wait_for(lambda: len([t for t in self.c.tasks.list({"service": ["bad"]}) if t.state == "rejected"]) >= 2,
                 what="a second attempt")
        self.assertEqual(self.c.info()["LocalNodeState"], "active")

    def test_restart_policies(self):
        self.create("fail3", ["sh", "-c", "exit 3"], restart={"Condition": "on-failure", "Delay": 0, "MaxAttempts": 2})
        self.create("ok", ["true"], restart={"Condition": "on-failure", "Delay": 0})
        self.create("none", ["false"], restart={"Condition": "none"})
        wait_for(lambda: len([t for t in self.c.tasks.list({"service": ["fail3"]}) if t.state == "failed"]) == 3,
                 what="3 failed attempts")
        failed = self.c.tasks.list({"service": ["fail3"]})
        self.assertEqual(failed[0].attrs["Status"]["ContainerStatus"]["ExitCode"], 3)
        self.assertIn("non-zero exit (3)", failed[0].attrs["Status"]["Err"])
        wait_for(lambda: [t.state for t in self.c.tasks.list({"service": ["ok"]})] == ["complete"],
                 what="ok complete")
        wait_for(lambda: [t.state for t in self.c.tasks.list({"service": ["none"]})] == ["failed"],
                 what="none failed once")
        time.sleep(0.3)  # nothing more may appear (no restart under either policy)
        self.assertEqual(len(self.c.tasks.list({"service": ["fail3"]})), 3)
        self.assertEqual(len(self.c.tasks.list({"service": ["ok"]})), 1)
        self.assertEqual(len(self.c.tasks.list({"service": ["none"]})), 1)

    def test_jobs_and_global(self):
        self.create("job", ["sh", "-c", "exit 0"], mode={"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 4}})
        self.create("everywhere", ["sleep", "300"], mode={"Global": {}})
        wait_for(lambda: len([t for t in self.c.tasks.list({"service": ["job"]}) if t.state == "complete"]) == 4,
                 what="4 completions")
        wait_for(lambda: self.running("everywhere", 1), what="the global task")

    def restart_daemon(self, sig):
        before = {t.id: t.attrs["Status"]["ContainerStatus"]["PID"] for t in self.running("web", 3)}
        self.c.close()
        self.daemon.stop(sig)
        for pid in before.values():
            self.assertTrue(alive(pid), "task process died with swarmd")
        self.c = self.daemon.start()
        time.sleep(0.5)  # give a buggy daemon the chance to start duplicates
        after = wait_for(lambda: self.running("web", 3), what="tasks re-adopted")
        self.assertEqual({t.id: t.attrs["Status"]["ContainerStatus"]["PID"] for t in after}, before)
        self.assertEqual(len(self.c.tasks.list({"service": ["web"]})), 3)

    def test_sigkill_readopts_tasks(self):
        self.create("web", ["sleep", "300"], replicas=3)
        wait_for(lambda: self.running("web", 3), what="3 running tasks")
        self.restart_daemon(signal.SIGKILL)
        # Still managed: killing one is noticed and healed.
        victim = self.running("web", 3)[0]
        os.kill(victim.attrs["Status"]["ContainerStatus"]["PID"], signal.SIGKILL)
        wait_for(lambda: self.c.tasks.get(victim.id).state == "failed", what="the kill noticed")

    def test_sigterm_restart_accounts_for_every_task(self):
        self.create("web", ["sleep", "300"], replicas=3)
        wait_for(lambda: self.running("web", 3), what="3 running tasks")
        self.restart_daemon(signal.SIGTERM)


if __name__ == "__main__":
    unittest.main()
