"""Tests of the Python binding against the real libswarm.so."""

import os
import shutil
import tempfile
import threading
import time
import unittest

import swarm

def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


WEB = {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "nginx"}}}


class BindingTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="swarm-py-")
        self.cluster = swarm.Cluster.open(StateDir=os.path.join(self.dir, "node"), Hostname="py1", Runtime="fake",
                                          ListenAddr="127.0.0.1:%d" % free_port())

    def tearDown(self):
        self.cluster.close()
        shutil.rmtree(self.dir)

    def test_version(self):
        self.assertRegex(swarm.version(), r"^\d+\.\d+\.\d+$")

    def test_open_errors(self):
        with self.assertRaises(swarm.InvalidArgument) as cm:
            swarm.Cluster.open(StateDir=self.dir, Bogus=1)
        self.assertIn('unknown key "Bogus"', str(cm.exception))
        self.assertEqual(cm.exception.code, -1)
        with self.assertRaises(swarm.Busy):
            swarm.Cluster.open(StateDir=os.path.join(self.dir, "node"))

    def test_not_a_manager(self):
        self.assertEqual(self.cluster.info()["LocalNodeState"], "inactive")
        with self.assertRaises(swarm.Unavailable) as cm:
            self.cluster.services.create(WEB)
        self.assertIn("not a swarm manager", cm.exception.message)

    def test_service_lifecycle(self):
        node_id = self.cluster.init(AdvertiseAddr="127.0.0.1")
        self.assertEqual(len(node_id), 25)
        web = self.cluster.services.create(WEB)
        self.assertEqual(web.name, "web")
        self.assertEqual(web.replicas, 1)
        self.assertEqual(web.mode, "replicated")
        self.assertEqual(web.attrs["Spec"]["TaskTemplate"]["RestartPolicy"]["Condition"], "any")
        self.assertEqual(self.cluster.services.get("web"), web)
        self.assertEqual([s.name for s in self.cluster.services.list()], ["web"])
        self.assertEqual(self.cluster.services.list({"name": ["nomatch"]}), [])
        with self.assertRaises(swarm.AlreadyExists):
            self.cluster.services.create(WEB)
        scaled = web.scale(4)
        self.assertEqual(scaled.replicas, 4)
        self.assertGreater(scaled.version, web.version)
        with self.assertRaises(swarm.Conflict):
            web.scale(2)  # stale snapshot
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            tasks = scaled.tasks(**{"desired-state": ["running"]})
            if len(tasks) == 4 and all(t.state == "running" for t in tasks):
                break
            time.sleep(0.02)
        self.assertEqual(sorted(t.slot for t in tasks), [1, 2, 3, 4])
        self.assertTrue(all(t.node_id == node_id for t in tasks))
        scaled.remove()
        with self.assertRaises(swarm.NotFound) as cm:
            self.cluster.services.get("web")
        self.assertEqual(str(cm.exception), "service web not found")

    def test_bad_spec(self):
        self.cluster.init()
        with self.assertRaises(swarm.InvalidArgument) as cm:
            self.cluster.services.create({"Name": "web"})
        self.assertIn("TaskTemplate.ContainerSpec.Image", str(cm.exception))
        with self.assertRaises(swarm.InvalidArgument):
            self.cluster.services.create("{not json")
        with self.assertRaises(swarm.InvalidArgument) as cm:
            self.cluster.services.list({"bogus": ["x"]})
        self.assertEqual(str(cm.exception), "Invalid filter 'bogus'")
        self.assertEqual(self.cluster.services.list(), [])

    def test_nodes(self):
        self.cluster.init()
        me = self.cluster.nodes.get()
        self.assertEqual(me.hostname, "py1")
        self.assertEqual(me.role, "manager")
        self.assertTrue(me.leader)
        self.assertEqual([n.id for n in self.cluster.nodes.list()], [me.id])

    def test_threads(self):
        self.cluster.init()
        errors = []

        def create(i):
            try:
                for j in range(10):
                    spec = {"Name": "s%d-%d" % (i, j), "TaskTemplate": {"ContainerSpec": {"Image": "x"}}}
                    self.cluster.services.create(spec)
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=create, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(self.cluster.services.list()), 40)

    def test_reopen_and_closed_handle(self):
        self.cluster.init()
        self.cluster.services.create(WEB)
        self.cluster.close()
        with self.assertRaises(swarm.Closed):
            self.cluster.services.list()
        self.cluster = swarm.Cluster.open(StateDir=os.path.join(self.dir, "node"), Runtime="fake",
                                          ListenAddr="127.0.0.1:%d" % free_port())
        self.assertEqual(self.cluster.services.get("web").name, "web")


if __name__ == "__main__":
    unittest.main()
