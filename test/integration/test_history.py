"""The history checker (history.py) on synthetic histories: what must pass and what must fail."""

import contextlib
import io
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from history import History  # noqa: E402


class Script:
    """Builds a history from compact steps: run("c1 update web v1 ok") or invoke/complete separately."""

    def __init__(self):
        self.h = History()
        self.open = {}

    def invoke(self, name, client, kind, key, value=None):
        self.open[name] = self.h.invoke(client, kind, key, value)
        return self

    def complete(self, name, status, error=None):
        op = self.open.pop(name)
        if status == "ok":
            self.h.ok(op, "done")
        elif status == "fail":
            self.h.fail(op, error or "refused")
        else:
            self.h.info(op, error or "timed out")
        return self

    def run(self, client, kind, key, value=None, status="ok"):
        self.invoke("_", client, kind, key, value)
        return self.complete("_", status)

    def check(self, final):
        return self.h.check(final, quiet=True)


class ValidHistories(unittest.TestCase):
    def assertValid(self, script, final):
        self.assertEqual(script.check(final), [])

    def test_empty(self):
        self.assertValid(Script(), {})

    def test_sequential_writes(self):
        s = Script().run("c1", "create", "web", "v1").run("c1", "update", "web", "v2").run("c2", "update", "web", "v3")
        self.assertValid(s, {"web": "v3"})

    def test_create_then_remove(self):
        s = Script().run("c1", "create", "web", "v1").run("c2", "remove", "web")
        self.assertValid(s, {})

    def test_remove_then_create_again(self):
        s = Script().run("c1", "create", "web", "v1").run("c1", "remove", "web").run("c1", "create", "web", "v2")
        self.assertValid(s, {"web": "v2"})

    def test_failed_writes_leave_nothing(self):
        s = Script().run("c1", "create", "web", "v1", "fail").run("c1", "create", "db", "d1")
        s.run("c2", "update", "db", "d2", "fail").run("c2", "remove", "db", status="fail")
        self.assertValid(s, {"db": "d1"})

    def test_unknown_outcomes_may_go_either_way(self):
        for final in ({}, {"web": "v1"}):
            self.assertValid(Script().run("c1", "create", "web", "v1", "info"), final)
        for final in ({"web": "v1"}, {}):
            s = Script().run("c1", "create", "web", "v1").run("c1", "remove", "web", status="info")
            self.assertValid(s, final)

    def test_ok_then_overwritten_by_unknown(self):
        s = Script().run("c1", "create", "web", "v1").run("c1", "update", "web", "v2", "ok")
        s.run("c2", "update", "web", "v3", "info")
        self.assertValid(s, {"web": "v3"})
        self.assertValid(s, {"web": "v2"})

    def test_unknown_write_may_land_after_a_later_acknowledged_one(self):
        # An unknown outcome never "completes": it may still be applied after anything invoked later.
        s = Script().run("c1", "create", "web", "v1").run("c1", "update", "web", "v2", "info")
        s.run("c2", "update", "web", "v3")
        self.assertValid(s, {"web": "v2"})
        self.assertValid(s, {"web": "v3"})

    def test_pending_ops_count_as_unknown(self):
        s = Script().run("c1", "create", "web", "v1").invoke("hung", "c2", "update", "web", "v2")
        s.run("c1", "update", "web", "v3")
        self.assertValid(s, {"web": "v2"})
        self.assertValid(s, {"web": "v3"})

    def test_concurrent_updates_take_effect_in_either_order(self):
        for first_done in ("a", "b"):
            s = Script().run("c0", "create", "web", "v0")
            s.invoke("a", "c1", "update", "web", "va").invoke("b", "c2", "update", "web", "vb")
            s.complete(first_done, "ok").complete("b" if first_done == "a" else "a", "ok")
            self.assertValid(s, {"web": "va"})
            self.assertValid(s, {"web": "vb"})

    def test_concurrent_create_and_remove(self):
        s = Script().invoke("c", "c1", "create", "web", "v1").invoke("r", "c2", "remove", "web")
        s.complete("c", "ok").complete("r", "ok")
        self.assertValid(s, {})
        self.assertValid(s, {"web": "v1"})

    def test_keys_are_independent(self):
        s = Script().run("c1", "create", "a", "a1").run("c2", "create", "b", "b1").run("c1", "update", "a", "a2")
        self.assertValid(s, {"a": "a2", "b": "b1"})

    def test_many_threads(self):
        h = History()
        finals = {}

        def client(i):
            key = "k%d" % i
            h.ok(h.invoke(i, "create", key, "%d-0" % i))
            for n in range(1, 200):
                op = h.invoke(i, "update", key, "%d-%d" % (i, n))
                (h.ok if n % 3 else h.fail)(op)
            finals[key] = "%d-%d" % (i, 199 - (199 % 3 == 0))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(h.ops()), 8 * 200)
        self.assertEqual(h.count("fail"), 8 * 66)
        self.assertEqual(h.check(finals, quiet=True), [])


class InvalidHistories(unittest.TestCase):
    def assertViolation(self, script, final, *words):
        violations = script.check(final)
        self.assertEqual(len(violations), 1, violations)
        for w in words:
            self.assertIn(w, violations[0])
        return violations[0]

    def test_lost_acknowledged_create(self):
        s = Script().run("c1", "create", "web", "v1")
        self.assertViolation(s, {}, "web", "lost acknowledged write", "#1 create web='v1'")

    def test_lost_acknowledged_update(self):
        s = Script().run("c1", "create", "web", "v1").run("c2", "update", "web", "v2")
        self.assertViolation(s, {"web": "v1"}, "lost acknowledged write", "#2 update web='v2'")

    def test_lost_acknowledged_remove(self):
        s = Script().run("c1", "create", "web", "v1").run("c2", "remove", "web")
        self.assertViolation(s, {"web": "v1"}, "lost acknowledged write", "#2 remove web")

    def test_phantom_value(self):
        s = Script().run("c1", "create", "web", "v1")
        self.assertViolation(s, {"web": "v9"}, "web", "'v9' was never written")

    def test_phantom_key(self):
        self.assertViolation(Script().run("c1", "create", "web", "v1"), {"web": "v1", "db": "x"},
                             "db: present ('x') but no operation")

    def test_value_of_another_key(self):
        s = Script().run("c1", "create", "web", "v1").run("c1", "create", "db", "d1")
        self.assertViolation(s, {"web": "d1", "db": "d1"}, "web", "never written to this key")

    def test_value_of_a_failed_write(self):
        s = Script().run("c1", "create", "web", "v1").run("c1", "update", "web", "v2", "fail")
        self.assertViolation(s, {"web": "v2"}, "reported failed", "#2 update web='v2'")
        self.assertViolation(Script().run("c1", "create", "web", "v1", "fail"), {"web": "v1"}, "reported failed")

    def test_ok_then_overwritten_by_unknown_but_an_older_value_returns(self):
        s = Script().run("c1", "create", "web", "v1").run("c1", "update", "web", "v2")
        s.run("c2", "update", "web", "v3", "info")
        self.assertViolation(s, {"web": "v1"}, "lost acknowledged write", "#2 update web='v2'")

    def test_acknowledged_write_after_concurrent_ones(self):
        s = Script().run("c0", "create", "web", "v0")
        s.invoke("a", "c1", "update", "web", "va").invoke("b", "c2", "update", "web", "vb")
        s.complete("b", "ok").complete("a", "ok")
        s.run("c3", "update", "web", "vc")  # invoked after both completed: it wins
        for final in ("va", "vb", "v0"):
            self.assertViolation(s, {"web": final}, "lost acknowledged write", "#4 update web='vc'")

    def test_concurrent_ops_do_not_excuse_an_older_one(self):
        # vb is concurrent with va, but v0 was complete before both were invoked.
        s = Script().run("c0", "create", "web", "v0")
        s.invoke("a", "c1", "update", "web", "va").invoke("b", "c2", "update", "web", "vb")
        s.complete("a", "ok").complete("b", "info")
        self.assertViolation(s, {"web": "v0"}, "lost acknowledged write", "#2 update web='va'")

    def test_one_violation_per_key(self):
        s = Script().run("c1", "create", "a", "a1").run("c1", "create", "b", "b1")
        violations = s.check({"b": "zz"})
        self.assertEqual(len(violations), 2, violations)
        self.assertTrue(violations[0].startswith("a: lost"))
        self.assertTrue(violations[1].startswith("b: 'zz'"))

    def test_duplicate_values_are_rejected(self):
        s = Script().run("c1", "create", "a", "x").run("c2", "create", "b", "x")
        violations = s.check({"a": "x", "b": "x"})
        self.assertEqual(len(violations), 1, violations)
        self.assertIn("written twice", violations[0])


class Recording(unittest.TestCase):
    def test_a_failed_check_prints_the_history(self):
        h = History()
        h.ok(h.invoke("c1", "create", "web", "v1"), "created")
        h.info(h.invoke("c2", "update", "web", "v2"), "timed out after 30000 ms")
        h.invoke("c3", "remove", "web")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(len(h.check({"web": "v9"})), 1)
        text = out.getvalue()
        self.assertIn("1 violation", text)
        self.assertIn("#1 create web='v1' (c1)", text)
        self.assertIn("-> created", text)
        self.assertIn("timed out after 30000 ms", text)
        self.assertRegex(text, r"#3 remove web \(c3\)\s+pending")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(h.check({"web": "v2"}), [])
        self.assertEqual(out.getvalue(), "")

    def test_misuse(self):
        h = History()
        op = h.invoke("c1", "create", "web", "v1")
        h.ok(op)
        with self.assertRaises(ValueError):
            h.fail(op)
        with self.assertRaises(ValueError):
            h.invoke("c1", "scale", "web", "3")
        with self.assertRaises(ValueError):
            h.invoke("c1", "update", "web")

    def test_counts(self):
        h = History()
        h.ok(h.invoke("c1", "create", "a", "1"))
        h.fail(h.invoke("c1", "create", "b", "2"))
        h.info(h.invoke("c1", "create", "c", "3"))
        self.assertEqual((h.count(), h.count("ok"), h.count("fail"), h.count("info")), (3, 1, 1, 1))


if __name__ == "__main__":
    unittest.main()
