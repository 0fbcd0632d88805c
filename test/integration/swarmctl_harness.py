"""Helpers for test_swarmctl.py: a swarmd process per test class, and swarmctl runs."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

SWARMD = os.environ.get("SWARMD", "")
SWARMCTL = os.environ.get("SWARMCTL", "")


def wait_for(predicate, timeout=20.0, interval=0.05):
    """Polls predicate until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def table(rows):
    """Lays rows out as docker's tabwriter does: minwidth 10, padding 3, last cell unpadded."""
    ncols = max(len(r) for r in rows)
    widths = [0] * ncols
    for r in rows:
        for i, cell in enumerate(r[:-1]):
            widths[i] = max(widths[i], len(cell) + 3, 10)
    out = []
    for r in rows:
        out.append("".join(c.ljust(widths[i]) for i, c in enumerate(r[:-1])) + r[-1])
    return "\n".join(out) + "\n"


class Swarmd:
    """One swarmd on 127.0.0.1 with its own state directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="swarmctl-test-")
        self.port = free_port()
        self.socket = os.path.join(self.dir, "swarmd.sock")
        self.log = open(os.path.join(self.dir, "swarmd.log"), "wb")
        self.proc = subprocess.Popen(
            [SWARMD, "--state-dir", os.path.join(self.dir, "state"), "--control-socket", self.socket,
             "--listen-addr", "127.0.0.1:%d" % self.port, "--advertise-addr", "127.0.0.1"],
            stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_for(lambda: os.path.exists(self.socket) or self.proc.poll() is not None):
            self.stop()
            raise RuntimeError("swarmd did not create its socket in time")
        if self.proc.poll() is not None:
            self.stop()
            raise RuntimeError("swarmd exited early; see its log")

    @property
    def url(self):
        return "unix://" + self.socket

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class SwarmctlTestCase(unittest.TestCase):
    """Starts swarmd for the class (and `swarm init` unless init_swarm is False)."""

    init_swarm = True

    @classmethod
    def setUpClass(cls):
        if not SWARMD or not SWARMCTL:
            raise unittest.SkipTest("SWARMD and SWARMCTL must name the built binaries")
        cls.daemon = Swarmd()
        if cls.init_swarm:
            r = cls.run_ctl("swarm", "init", "--advertise-addr", "127.0.0.1",
                            "--listen-addr", "127.0.0.1:%d" % cls.daemon.port)
            if r.returncode != 0:
                cls.daemon.stop()
                raise RuntimeError("swarm init failed: " + r.stderr)

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.init_swarm:
                cls.remove_all_services()
        finally:
            cls.daemon.stop()

    @classmethod
    def remove_all_services(cls):
        ids = cls.run_ctl("service", "ls", "-q").stdout.split()
        if ids:
            cls.run_ctl("service", "rm", *ids)
        # Task processes outlive swarmd: wait until the orchestrator has shut them down.
        wait_for(lambda: cls.run_ctl("node", "ps", "-q", "-f", "desired-state=running").stdout.strip() == "",
                 timeout=30)

    @classmethod
    def run_ctl(cls, *args, env=None, timeout=120):
        full_env = dict(os.environ)
        full_env.pop("SWARM_HOST", None)
        full_env.setdefault("SWARMCTL_VERIFY_SECONDS", "0")
        if env:
            full_env.update(env)
        return subprocess.run([SWARMCTL, "-H", cls.daemon.url] + list(args), capture_output=True, text=True,
                              env=full_env, timeout=timeout)

    def ctl(self, *args, **kwargs):
        return self.run_ctl(*args, **kwargs)

    def ok(self, *args, **kwargs):
        r = self.ctl(*args, **kwargs)
        self.assertEqual(r.returncode, 0, "swarmctl %s failed: %s" % (" ".join(args), r.stderr))
        return r

    def fails(self, args, first_line, **kwargs):
        """Expects exit code 1 and the given first line of stderr, with nothing on stdout."""
        r = self.ctl(*args, **kwargs)
        self.assertEqual(r.returncode, 1, "expected failure of %s: %s" % (" ".join(args), r.stdout))
        self.assertEqual(r.stderr.splitlines()[0] if r.stderr else "", first_line)
        return r
