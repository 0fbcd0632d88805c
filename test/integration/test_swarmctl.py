"""swarmctl against a real swarmd: outputs must read like the docker CLI's.

Run by meson with SWARMD and SWARMCTL naming the built binaries; prints a
closing "N passed, N failed" line and exits non-zero on failure.
"""

import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from swarmctl_harness import SwarmctlTestCase, table, wait_for  # noqa: E402

ID_RE = r"[0-9a-z]{25}"
NODE_HEADER = ["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "ENGINE VERSION"]
SERVICE_HEADER = ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"]
TASK_HEADER = ["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR", "PORTS"]


class InitTest(SwarmctlTestCase):
    init_swarm = False

    def test_init_and_again(self):
        r = self.ok("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr",
                    "127.0.0.1:%d" % self.daemon.port)
        m = re.match(r"Swarm initialized: current node \((%s)\) is now a manager\.\n\n" % ID_RE, r.stdout)
        self.assertIsNotNone(m, r.stdout)
        rest = r.stdout[m.end():]
        if rest:
            # Once join tokens exist, docker's two paragraphs follow.
            self.assertRegex(rest, r"^To add a worker to this swarm, run the following command:\n\n"
                                   r"    swarmctl swarm join --token SWMTKN-\S+ \S+:\d+\n\n"
                                   r"To add a manager to this swarm, run 'swarmctl swarm join-token manager' "
                                   r"and follow the instructions\.\n$")
        self.assertEqual(r.stderr, "")
        node_id = m.group(1)
        self.assertEqual(self.ok("node", "ls", "-q").stdout, node_id + "\n")
        self.fails(["swarm", "init"], "Error response from daemon: This node is already part of a swarm. "
                   "Use \"docker swarm leave\" to leave this swarm and join another one.")


class InitFlagsTest(SwarmctlTestCase):
    init_swarm = False

    def test_init_spec_flags(self):
        self.fails(["swarm", "init", "--availability", "later"],
                   "invalid availability \"later\", only active, pause and drain are supported")
        self.ok("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", "127.0.0.1:%d" % self.daemon.port,
                "--availability", "Drain", "--dispatcher-heartbeat", "7s", "--task-history-limit", "3",
                "--cert-expiry", "240h")
        info = self.ok("info").stdout
        self.assertIn("\n   Task History Retention Limit: 3\n", info)
        self.assertIn("\n   Heartbeat Period: 7 seconds\n", info)
        self.assertIn("\n   Expiry Duration: 10 days\n", info)
        self.assertEqual(self.ok("node", "ls", "--format", "{{.Availability}}").stdout, "Drain\n")


class SwarmCommandsTest(SwarmctlTestCase):
    """swarm update / join-token / info / leave on a one-node swarm (the test leaves it last)."""

    def test_commands(self):
        r = self.ok("swarm", "update", "--task-history-limit", "9", "--cert-expiry", "48h")
        self.assertEqual(r.stdout, "Swarm updated.\n")
        info = self.ok("info").stdout
        self.assertIn("\n Swarm: active\n", info)
        self.assertIn("\n   Task History Retention Limit: 9\n", info)
        self.assertIn("\n   Expiry Duration: 2 days\n", info)
        token = self.ok("swarm", "join-token", "-q", "manager").stdout.strip()
        self.assertRegex(token, r"^SWMTKN-1-[0-9a-z]+-[0-9a-z]+$")
        r = self.ok("swarm", "join-token", "--rotate", "manager")
        self.assertTrue(r.stdout.startswith("Successfully rotated manager join token.\n\n"
                                            "To add a manager to this swarm, run the following command:\n\n"
                                            "    swarmctl swarm join --token SWMTKN-1-"), r.stdout)
        self.assertNotIn(token, r.stdout)
        self.fails(["swarm", "join-token", "nobody"], "unknown role nobody")
        self.fails(["swarm", "leave"], "Error response from daemon: You are attempting to leave the swarm on a node "
                   "that is participating as a manager. Removing the last manager erases all current state of the "
                   "swarm. Use `--force` to ignore this message.")
        r = self.ok("swarm", "leave", "--force")
        self.assertEqual(r.stdout, "Node left the swarm.\n")
        self.assertIn("\n Swarm: inactive\n", self.ok("info").stdout)
        self.fails(["node", "ls"], "Error response from daemon: This node is not a swarm manager. Use \"docker swarm "
                   "init\" or \"docker swarm join\" to connect this node to swarm and try again.")


class ConnectionTest(SwarmctlTestCase):
    init_swarm = False

    def test_no_daemon(self):
        r = self.ctl("-H", "unix:///nonexistent/swarmd.sock", "service", "ls")
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent/swarmd.sock", r.stderr)

    def test_help(self):
        for args in (["--help"], ["service", "--help"], ["service", "create", "--help"], ["node", "ls", "--help"]):
            r = self.ctl(*args)
            self.assertEqual(r.returncode, 0, args)
            self.assertIn("Usage:", r.stdout)
        self.assertIn("--replicas uint", self.ctl("service", "create", "--help").stdout)


class NodeTest(SwarmctlTestCase):
    def self_node(self):
        return json.loads(self.ok("node", "inspect", "self").stdout)[0]

    def test_ls_table(self):
        node = self.self_node()
        manager = "Leader" if node["ManagerStatus"]["Leader"] else node["ManagerStatus"]["Reachability"].capitalize()
        expected = table([["ID  "] + NODE_HEADER[1:],
                          [node["ID"] + " *", node["Description"]["Hostname"], node["Status"]["State"].capitalize(),
                           node["Spec"]["Availability"].capitalize(), manager,
                           node["Description"]["Engine"]["EngineVersion"]]])
        r = self.ok("node", "ls")
        self.assertEqual(r.stdout, expected)
        self.assertTrue(r.stdout.startswith("ID                            HOSTNAME"))

    def test_ls_quiet_format_filter(self):
        node = self.self_node()
        self.assertEqual(self.ok("node", "ls", "-q").stdout, node["ID"] + "\n")
        self.assertEqual(self.ok("node", "ls", "--format", "{{.Hostname}} {{.Self}}").stdout,
                         node["Description"]["Hostname"] + " true\n")
        self.assertEqual(self.ok("node", "ls", "--format", "table {{.ID}}\t{{.Status}}").stdout,
                         table([["ID", "STATUS"], [node["ID"], "Ready"]]))
        row = json.loads(self.ok("node", "ls", "--format", "{{json .}}").stdout)
        self.assertEqual(sorted(row), ["Availability", "EngineVersion", "Hostname", "ID", "ManagerStatus", "Self",
                                       "Status", "TLSStatus"])
        self.assertEqual(self.ok("node", "ls", "-f", "role=worker").stdout,
                         "ID        HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION\n")
        self.assertEqual(self.ok("node", "ls", "-q", "--filter", "role=manager").stdout, node["ID"] + "\n")
        self.fails(["node", "ls", "-f", "nonsense"], "bad format of filter (expected name=value)")

    def test_inspect(self):
        node = self.self_node()
        raw = self.ok("node", "inspect", "self").stdout
        self.assertTrue(raw.startswith("[\n    {\n        \"ID\": "), raw[:40])
        self.assertEqual(self.ok("node", "inspect", "--format", "{{.ID}} {{.Spec.Role}}", node["ID"]).stdout,
                         node["ID"] + " manager\n")
        pretty = self.ok("node", "inspect", "--pretty", "self").stdout
        self.assertTrue(pretty.startswith("ID:\t\t\t%s\n" % node["ID"]), pretty)
        self.assertIn("\nHostname:              \t%s\n" % node["Description"]["Hostname"], pretty)
        self.assertIn(" Leader:\t\tYes\n", pretty)
        r = self.fails(["node", "inspect", "nosuchnode"], "Error response from daemon: node nosuchnode not found")
        self.assertEqual(r.stdout, "[]\n")

    def test_ps_header(self):
        r = self.ok("node", "ps", "-f", "desired-state=accepted")
        self.assertEqual(r.stdout, "ID        NAME      IMAGE     NODE      DESIRED STATE   CURRENT STATE   "
                                   "ERROR     PORTS\n")


class ServiceTest(SwarmctlTestCase):
    def setUp(self):
        self.remove_all_services()

    def create(self, *args):
        r = self.ok("service", "create", "-d", *args)
        self.assertRegex(r.stdout, "^%s\n$" % ID_RE)
        return r.stdout.strip()

    def inspect(self, ref):
        return json.loads(self.ok("service", "inspect", ref).stdout)[0]

    def test_create_inspect(self):
        sid = self.create("--name", "web", "--replicas", "2", "-p", "1234:80", "busybox:local", "sleep", "3600")
        raw = self.ok("service", "inspect", "web").stdout
        self.assertTrue(raw.startswith("[\n    {\n        \"ID\": \"%s\",\n        \"Version\": {\n" % sid), raw[:80])
        self.assertTrue(raw.endswith("    }\n]\n"))
        svc = json.loads(raw)[0]
        spec = svc["Spec"]
        self.assertEqual(spec["Name"], "web")
        self.assertEqual(spec["Mode"], {"Replicated": {"Replicas": 2}})
        self.assertEqual(spec["TaskTemplate"]["ContainerSpec"]["Image"], "busybox:local")
        self.assertEqual(spec["TaskTemplate"]["ContainerSpec"]["Args"], ["sleep", "3600"])
        self.assertNotIn("Command", spec["TaskTemplate"]["ContainerSpec"])
        self.assertEqual(spec["EndpointSpec"]["Ports"], [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 1234,
                                                          "PublishMode": "ingress"}])
        self.assertEqual(self.ok("service", "inspect", "--format", "{{.Spec.Name}} {{.Version.Index}}", sid).stdout,
                         "web %d\n" % svc["Version"]["Index"])
        self.assertEqual(self.ok("service", "inspect", "-f", "{{json .Spec.Mode}}", "web").stdout,
                         '{"Replicated":{"Replicas":2}}\n')
        pretty = self.ok("service", "inspect", "--pretty", "web").stdout
        self.assertTrue(pretty.startswith("\nID:\t\t%s\nName:\t\tweb\nService Mode:\tReplicated\n Replicas:\t2\n" % sid),
                        pretty)
        self.assertIn("\nContainerSpec:\n Image:\t\tbusybox:local\n Args:\t\tsleep 3600 \n", pretty)

    def test_create_flags_build_spec(self):
        self.create("--name", "full", "--env", "A=1", "-e", "B=2", "--workdir", "/tmp", "--user", "nobody",
                    "--hostname", "h1", "--label", "tier=web", "-l", "plain", "--constraint", "node.role==manager",
                    "--reserve-cpu", "0.1", "--reserve-memory", "16M", "--limit-cpu", "0.5", "--limit-memory", "64M",
                    "--restart-condition", "on-failure", "--restart-delay", "3s", "--restart-max-attempts", "4",
                    "--restart-window", "1m", "--stop-grace-period", "20s", "--stop-signal", "SIGINT",
                    "--replicas-max-per-node", "2", "--placement-pref", "spread=node.labels.zone",
                    "-p", "mode=host,target=81,published=8081,protocol=udp", "busybox", "echo", "hi")
        spec = self.inspect("full")["Spec"]
        task = spec["TaskTemplate"]
        cs = task["ContainerSpec"]
        self.assertEqual(cs["Env"], ["A=1", "B=2"])
        self.assertEqual((cs["Dir"], cs["User"], cs["Hostname"]), ("/tmp", "nobody", "h1"))
        self.assertEqual(cs["Args"], ["echo", "hi"])
        self.assertEqual(cs["StopGracePeriod"], 20000000000)
        self.assertEqual(cs["StopSignal"], "SIGINT")
        self.assertEqual(spec["Labels"], {"tier": "web", "plain": ""})
        self.assertEqual(task["Placement"]["Constraints"], ["node.role==manager"])
        self.assertEqual(task["Placement"]["MaxReplicas"], 2)
        self.assertEqual(task["Placement"]["Preferences"], [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}])
        self.assertEqual(task["Resources"], {"Limits": {"NanoCPUs": 500000000, "MemoryBytes": 67108864},
                                             "Reservations": {"NanoCPUs": 100000000, "MemoryBytes": 16777216}})
        self.assertEqual(task["RestartPolicy"], {"Condition": "on-failure", "Delay": 3000000000, "MaxAttempts": 4,
                                                 "Window": 60000000000})
        self.assertEqual(spec["EndpointSpec"]["Ports"], [{"Protocol": "udp", "TargetPort": 81, "PublishedPort": 8081,
                                                          "PublishMode": "host"}])

    def test_modes(self):
        self.create("--name", "glob", "--mode", "global", "busybox", "sleep", "3600")
        self.assertEqual(self.inspect("glob")["Spec"]["Mode"], {"Global": {}})
        self.create("--name", "dflt", "busybox", "sleep", "3600")
        self.assertEqual(self.inspect("dflt")["Spec"]["Mode"], {"Replicated": {"Replicas": 1}})
        modes = self.ok("service", "ls", "--format", "{{.Name}} {{.Mode}}").stdout
        self.assertEqual(modes, "dflt replicated\nglob global\n")
        self.fails(["service", "create", "--mode", "global", "--replicas", "2", "busybox"],
                   "replicas can only be used with replicated or replicated-job mode")
        self.fails(["service", "create", "--mode", "bogus", "busybox"],
                   "unknown mode: bogus, only replicated and global supported")
        r = self.fails(["service", "scale", "glob=2"], "glob: scale can only be used with replicated or "
                       "replicated-job mode")
        self.assertEqual(r.stdout, "")

    def test_ls(self):
        a = self.create("--name", "web", "--replicas", "2", "busybox:local", "sleep", "3600")
        b = self.create("--name", "api10", "--replicas-max-per-node", "1", "busybox@sha256:" + "a" * 64)
        c = self.create("--name", "api9", "busybox:1.36@sha256:" + "b" * 64)
        r = self.ok("service", "ls")
        lines = r.stdout.splitlines()
        # Natural order of names; IDs cut to 12; digests dropped only when a tag is present.
        rows = [re.split(r"\s{3,}", line.rstrip()) for line in lines[1:]]
        self.assertEqual([row[1] for row in rows], ["api9", "api10", "web"])
        self.assertEqual([row[0] for row in rows], [c[:12], b[:12], a[:12]])
        self.assertEqual(rows[0][4], "busybox:1.36")
        self.assertEqual(rows[1][4], "busybox@sha256:" + "a" * 64)
        self.assertRegex(lines[2], r"\d+/1 \(max 1 per node\)")
        replicas = [re.split(r"\s{3,}", line)[3] for line in lines[1:]]
        cells = [[c[:12], "api9", "replicated", replicas[0], "busybox:1.36", ""],
                 [b[:12], "api10", "replicated", replicas[1], "busybox@sha256:" + "a" * 64, ""],
                 [a[:12], "web", "replicated", replicas[2], "busybox:local", ""]]
        self.assertEqual(r.stdout, table([SERVICE_HEADER] + cells))
        self.assertEqual(self.ok("service", "ls", "-q").stdout, "%s\n%s\n%s\n" % (c[:12], b[:12], a[:12]))
        self.assertEqual(self.ok("service", "ls", "-q", "-f", "name=web").stdout, a[:12] + "\n")
        self.assertEqual(self.ok("service", "ls", "-f", "name=nothing").stdout,
                         "ID        NAME      MODE      REPLICAS   IMAGE     PORTS\n")
        self.assertEqual(self.ok("service", "ls", "--format", "table {{.Name}}\t{{.Image}}", "-f", "name=web").stdout,
                         table([["NAME", "IMAGE"], ["web", "busybox:local"]]))
        row = json.loads(self.ok("service", "ls", "--format", "{{json .}}", "-f", "name=web").stdout)
        self.assertEqual(sorted(row), ["ID", "Image", "Mode", "Name", "Ports", "Replicas"])
        self.assertEqual(row["Name"], "web")

    def test_inspect_missing(self):
        r = self.fails(["service", "inspect", "nosuch"], "Error: no such service: nosuch")
        self.assertEqual(r.stdout, "[]\n")
        self.assertEqual(r.stderr, "Error: no such service: nosuch\n")
        self.create("--name", "web", "busybox")
        r = self.fails(["service", "inspect", "--format", "{{.Spec.Name}}", "web", "nosuch"],
                       "Error: no such service: nosuch")
        self.assertEqual(r.stdout, "web\n")

    def test_rm(self):
        self.create("--name", "web", "busybox")
        self.create("--name", "api", "busybox")
        r = self.ok("service", "rm", "web")
        self.assertEqual((r.stdout, r.stderr), ("web\n", ""))
        r = self.fails(["service", "rm", "nosuch"], "Error response from daemon: service nosuch not found")
        self.assertEqual((r.stdout, r.stderr), ("", "Error response from daemon: service nosuch not found\n"))
        r = self.fails(["service", "rm", "nosuch", "api"], "Error response from daemon: service nosuch not found")
        self.assertEqual(r.stdout, "api\n")
        self.assertEqual(self.ok("service", "ls", "-q").stdout, "")

    def test_update(self):
        self.create("--name", "web", "--env", "KEEP=1", "--env", "DROP=2", "--label", "old=1",
                    "--constraint", "node.role==manager", "busybox:v1", "sleep", "3600")
        before = self.inspect("web")
        r = self.ok("service", "update", "-d", "--image", "busybox:v2", "--env-add", "NEW=3", "--env-add", "KEEP=9",
                    "--env-rm", "DROP", "--label-add", "new=2", "--label-rm", "old", "--constraint-add",
                    "node.hostname!=nowhere", "--constraint-rm", "node.role==manager", "--limit-cpu", "1.5",
                    "--reserve-memory", "1G", "--restart-condition", "none", "--args", "sleep '60'", "--force", "web")
        self.assertEqual((r.stdout, r.stderr), ("web\n", ""))
        after = self.inspect("web")
        self.assertGreater(after["Version"]["Index"], before["Version"]["Index"])
        spec, task = after["Spec"], after["Spec"]["TaskTemplate"]
        self.assertEqual(task["ContainerSpec"]["Image"], "busybox:v2")
        self.assertEqual(task["ContainerSpec"]["Env"], ["KEEP=9", "NEW=3"])
        self.assertEqual(task["ContainerSpec"]["Args"], ["sleep", "60"])
        self.assertEqual(spec["Labels"], {"new": "2"})
        self.assertEqual(task["Placement"]["Constraints"], ["node.hostname!=nowhere"])
        self.assertEqual(task["Resources"]["Limits"]["NanoCPUs"], 1500000000)
        self.assertEqual(task["Resources"]["Reservations"]["MemoryBytes"], 1 << 30)
        self.assertEqual(task["RestartPolicy"]["Condition"], "none")
        self.assertEqual(task["ForceUpdate"], before["Spec"]["TaskTemplate"]["ForceUpdate"] + 1)
        self.ok("service", "update", "-d", "--replicas", "3", "web")
        self.assertEqual(self.inspect("web")["Spec"]["Mode"]["Replicated"]["Replicas"], 3)
        self.fails(["service", "update", "-d", "--image", "x", "nosuch"],
                   "Error response from daemon: service nosuch not found")

    def test_scale(self):
        self.create("--name", "web", "busybox", "sleep", "3600")
        self.create("--name", "api", "busybox", "sleep", "3600")
        r = self.ok("service", "scale", "-d", "web=3", "api=0")
        self.assertEqual((r.stdout, r.stderr), ("web scaled to 3\napi scaled to 0\n", ""))
        self.assertEqual(self.inspect("web")["Spec"]["Mode"]["Replicated"]["Replicas"], 3)
        r = self.fails(["service", "scale", "-d", "nosuch=2", "web=4"],
                       "nosuch: Error response from daemon: service nosuch not found")
        self.assertEqual(r.stdout, "web scaled to 4\n")
        self.fails(["service", "scale", "-d", "web=x"],
                   "web: invalid replicas value x: strconv.ParseUint: parsing \"x\": invalid syntax")
        self.fails(["service", "scale", "web"], "invalid scale specifier 'web'.")

    def test_bad_input_changes_nothing(self):
        self.create("--name", "web", "busybox", "sleep", "3600")
        listing = ("service", "ls", "--format", "table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Image}}")
        before = self.ok(*listing).stdout
        version = self.inspect("web")["Version"]["Index"]
        cases = [
            (["service", "create", "--foo", "busybox"], "unknown flag: --foo"),
            (["service", "create", "--replicas", "-1", "busybox"],
             'invalid argument "-1" for "--replicas" flag: strconv.ParseUint: parsing "-1": invalid syntax'),
            (["service", "create", "--restart-delay", "abc", "busybox"],
             'invalid argument "abc" for "--restart-delay" flag: time: invalid duration "abc"'),
            (["service", "create", "--limit-memory", "12QB", "busybox"],
             'invalid argument "12QB" for "--limit-memory" flag: invalid size: \'12QB\''),
            (["service", "create", "--limit-cpu", "abc", "busybox"],
             'invalid argument "abc" for "--limit-cpu" flag: failed to parse abc as a rational number'),
            (["service", "create", "-e", "=x", "busybox"],
             'invalid argument "=x" for "-e, --env" flag: invalid environment variable: =x'),
            (["service", "create", "-p", "abc", "busybox"],
             'invalid argument "abc" for "-p, --publish" flag: invalid containerPort: abc'),
            (["service", "create", "--replicas"], "flag needs an argument: --replicas"),
            (["service", "create", "-x", "busybox"], "unknown shorthand flag: 'x' in -x"),
            (["service", "update", "--replicas", "abc", "web"],
             'invalid argument "abc" for "--replicas" flag: strconv.ParseUint: parsing "abc": invalid syntax'),
            (["service", "update", "--stop-grace-period", "5x", "web"],
             'invalid argument "5x" for "--stop-grace-period" flag: time: invalid duration "5x"'),
            (["service", "update", "--bogus", "web"], "unknown flag: --bogus"),
            (["service", "create", "--name", "web", "busybox"], None),
        ]
        for args, message in cases:
            r = self.ctl(*args)
            self.assertEqual(r.returncode, 1, args)
            self.assertEqual(r.stdout, "", args)
            if message is not None:
                lines = r.stderr.splitlines()
                self.assertEqual(lines[0], message, args)
                self.assertEqual(lines[1], "See 'swarmctl %s %s --help'." % (args[0], args[1]), args)
            else:
                self.assertTrue(r.stderr.startswith("Error response from daemon: "), r.stderr)
        self.assertEqual(self.ok(*listing).stdout, before)
        self.assertEqual(self.inspect("web")["Version"]["Index"], version)
        r = self.ctl("service", "create")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.splitlines()[0], "\"swarmctl service create\" requires at least 1 argument.")

    def test_ps_unknown_service(self):
        r = self.fails(["service", "ps", "nosuch"], "no such service: nosuch")
        self.assertEqual(r.stdout, "")


class TaskTest(SwarmctlTestCase):
    """Needs the orchestrator and a runtime: skipped while services get no tasks."""

    def setUp(self):
        self.remove_all_services()

    def require_tasks(self, service):
        if not wait_for(lambda: self.ctl("service", "ps", "-q", service).stdout.strip(), timeout=5):
            self.skipTest("services get no tasks yet (no orchestrator/runtime in this build)")

    def test_ps_table(self):
        sid = self.ok("service", "create", "-d", "--name", "web", "--replicas", "2", "busybox", "sleep",
                      "3600").stdout.strip()
        self.require_tasks("web")
        wait_for(lambda: self.ctl("service", "ls", "--format", "{{.Replicas}}").stdout == "2/2\n", timeout=30)
        r = self.ok("service", "ps", "web")
        lines = r.stdout.splitlines()
        self.assertEqual(re.split(r"\s{2,}", lines[0].strip()), TASK_HEADER)
        node = json.loads(self.ok("node", "inspect", "self").stdout)[0]["Description"]["Hostname"]
        tasks = [re.split(r"\s{3,}", line.rstrip()) for line in lines[1:]]
        self.assertEqual([t[1] for t in tasks], ["web.1", "web.2"])
        for t in tasks:
            self.assertRegex(t[0], r"^[0-9a-z]{12}$")
            self.assertEqual(t[2:5], ["busybox", node, "Running"])
            self.assertRegex(t[5], r"^Running (less than a second|\d+ seconds?) ago$")
        # docker's layout: CURRENT STATE padded, ERROR column padded, empty PORTS last.
        cells = [TASK_HEADER] + [t[:6] + ["", ""] for t in tasks]
        self.assertEqual(r.stdout, table(cells))
        full = self.ok("service", "ps", "--no-trunc", "-q", sid).stdout.split()
        self.assertEqual([f[:12] for f in full], [t[0] for t in tasks])
        self.assertEqual(self.ok("service", "ps", "--format", "{{.Name}} {{.DesiredState}}", "web").stdout,
                         "web.1 Running\nweb.2 Running\n")
        self.assertIn("web.1", self.ok("node", "ps").stdout)
        self.assertEqual(self.ok("service", "ls", "--format", "{{.Replicas}}").stdout, "2/2\n")

    def test_history_indent(self):
        self.ok("service", "create", "-d", "--name", "web", "busybox", "sleep", "3600")
        self.require_tasks("web")
        self.ok("service", "update", "-d", "--force", "web")
        ok = wait_for(lambda: len(self.ctl("service", "ps", "web").stdout.splitlines()) >= 3, timeout=30)
        if not ok:
            self.skipTest("no task history yet")
        lines = self.ok("service", "ps", "web").stdout.splitlines()
        self.assertRegex(lines[1], r"^[0-9a-z]{12}   web\.1 ")
        self.assertRegex(lines[2], r"^[0-9a-z]{12}    \\_ web\.1 ")

    def test_converge(self):
        r = self.ok("service", "create", "--name", "web", "--replicas", "2", "busybox", "sleep", "3600",
                    env={"SWARMCTL_VERIFY_SECONDS": "1"}, timeout=120)
        lines = r.stdout.splitlines()
        if "overall progress: 2 out of 2 tasks" not in lines:
            self.require_tasks("web")
        self.assertRegex(lines[0], "^%s$" % ID_RE)
        self.assertEqual(lines[1:4], ["overall progress: 0 out of 2 tasks", "1/2:  ", "2/2:  "])
        self.assertIn("overall progress: 2 out of 2 tasks", lines)
        self.assertIn("verify: Waiting 1 seconds to verify that tasks are stable...", lines)
        self.assertEqual(lines[-1], "verify: Service %s converged" % lines[0])
        r = self.ok("service", "scale", "web=3", env={"SWARMCTL_VERIFY_SECONDS": "0"})
        lines = r.stdout.splitlines()
        self.assertEqual(lines[:5], ["web scaled to 3", "overall progress: 0 out of 3 tasks", "1/3:  ", "2/3:  ",
                                     "3/3:  "])
        self.assertEqual(lines[-1], "verify: Service web converged")
        r = self.ok("service", "update", "--force", "web")
        self.assertEqual(r.stdout.splitlines()[0], "web")
        self.assertEqual(r.stdout.splitlines()[-1], "verify: Service web converged")
        r = self.ok("service", "update", "-q", "--force", "web")
        self.assertEqual(r.stdout, "web\n")

    def test_converge_global(self):
        r = self.ok("service", "create", "--name", "glob", "--mode", "global", "busybox", "sleep", "3600",
                    timeout=120)
        lines = r.stdout.splitlines()
        if "overall progress: 1 out of 1 tasks" not in lines:
            self.require_tasks("glob")
        self.assertIn("overall progress: 1 out of 1 tasks", lines)
        self.assertEqual(lines[-1], "verify: Service %s converged" % lines[0])
        self.assertEqual(self.ok("service", "ls", "--format", "{{.Replicas}}").stdout, "1/1\n")
        r = self.ok("service", "ps", "glob")
        node_id = json.loads(self.ok("node", "inspect", "self").stdout)[0]["ID"]
        self.assertIn("glob.%s" % node_id, r.stdout)


if __name__ == "__main__":
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed - len(result.skipped), failed))
    sys.exit(0 if failed == 0 and result.testsRun > 0 else 1)
