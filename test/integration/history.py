"""A history checker for writes made through failures (leader kills, quorum loss).

Clients record every write they attempt:

    h = History()
    op = h.invoke("c1", "update", "web", "c1-17")   # before sending
    h.ok(op)            # acknowledged
    h.fail(op, err)     # definitely not applied (refused before sending, validation, stale version)
    h.info(op, err)     # outcome unknown (timeout, connection lost, leader lost)

Operations act on one key each (a service name): "create" (the key appears
with `value`), "update" (its value becomes `value`) and "remove" (the key
disappears). Every written value must be unique in the history; a key is
absent before its first operation.

`h.check(final)` takes the observed final state, {key: value} (absent keys are
absent), and returns a list of violations (empty when the history is valid);
on violations it also prints the whole history. A final state is valid when,
for every key, it was produced by one candidate write that nothing
acknowledged has to follow:

  * the candidate is an operation on that key whose outcome is ok, unknown or
    still pending (or the initial absence), writing exactly the observed
    value (or absence, for removes);
  * no acknowledged operation on that key was invoked after the candidate
    completed (such an operation is ordered after the candidate in real time,
    so it would have overwritten it). Unknown and pending operations never
    complete: they may take effect at any later moment.

This is linearizability of each key as a register (values are unique, so the
candidate is identified by the value). It catches a lost acknowledged write
(create, update or remove), a value that was never requested or whose write
was reported failed, and an older value resurfacing over an acknowledged one,
while concurrent writes may take effect in either order.
"""

import math
import threading
import time

ABSENT = object()  # the "value" of a missing key (initially, and after a remove)

_KINDS = ("create", "update", "remove")


class Op:
    """One invoked operation. Fields are set by History; read them, do not write them."""

    __slots__ = ("index", "client", "kind", "key", "value", "status", "result", "error", "invoked", "completed",
                 "t_invoke", "t_complete")

    def __init__(self, index, client, kind, key, value, invoked, t_invoke):
        self.index = index
        self.client = client
        self.kind = kind
        self.key = key
        self.value = value
        self.status = "pending"  # then "ok", "fail" or "info"
        self.result = None
        self.error = None
        self.invoked = invoked  # position in the history's event order
        self.completed = None  # position of the completion event (None while pending)
        self.t_invoke = t_invoke
        self.t_complete = None

    @property
    def writes(self):
        """What this operation leaves for its key: its value, or ABSENT for a remove."""
        return ABSENT if self.kind == "remove" else self.value

    @property
    def done_by(self):
        """Event position after which this operation can no longer take effect (inf unless ok)."""
        return self.completed if self.status == "ok" else math.inf

    def describe(self):
        what = "%s %s" % (self.kind, self.key) + ("" if self.kind == "remove" else "=%r" % (self.value,))
        return "#%d %s (%s)" % (self.index, what, self.client)

    def __repr__(self):
        return "<Op %s %s>" % (self.describe(), self.status)


def _show(value):
    return "absent" if value is ABSENT else repr(value)


class History:
    """A thread-safe record of invoked and completed operations."""

    def __init__(self):
        self._lock = threading.Lock()
        self._ops = []
        self._events = 0
        self.start = time.monotonic()

    def invoke(self, client, kind, key, value=None):
        """Records that `client` is about to send `kind` on `key`; returns the op handle."""
        if kind not in _KINDS:
            raise ValueError("unknown operation kind %r (want one of %s)" % (kind, ", ".join(_KINDS)))
        if kind != "remove" and value is None:
            raise ValueError("%s needs a value" % kind)
        with self._lock:
            self._events += 1
            op = Op(len(self._ops) + 1, client, kind, key, value, self._events, time.monotonic() - self.start)
            self._ops.append(op)
            return op

    def _complete(self, op, status, result, error):
        with self._lock:
            if op.status != "pending":
                raise ValueError("%s completed twice (%s, then %s)" % (op.describe(), op.status, status))
            self._events += 1
            op.status, op.result, op.error = status, result, error
            op.completed = self._events
            op.t_complete = time.monotonic() - self.start

    def ok(self, op, result=None):
        """The operation was acknowledged: it took effect."""
        self._complete(op, "ok", result, None)

    def fail(self, op, error=None):
        """The operation definitely did not take effect."""
        self._complete(op, "fail", None, error)

    def info(self, op, error=None):
        """The outcome is unknown: it may or may not take effect, now or later."""
        self._complete(op, "info", None, error)

    def ops(self, key=None):
        with self._lock:
            return [op for op in self._ops if key is None or op.key == key]

    def count(self, status=None, after=None):
        """How many ops have this status (any if None), invoked after monotonic time `after` if given."""
        with self._lock:
            return sum(1 for op in self._ops if (status is None or op.status == status) and
                       (after is None or op.t_invoke + self.start > after))

    def format(self):
        lines = []
        for op in self.ops():
            if op.t_complete is None:
                took = " %.3fs-" % op.t_invoke
            else:
                took = " %.3f-%.3fs" % (op.t_invoke, op.t_complete)
            detail = ""
            if op.error is not None:
                detail = ": %s" % (op.error,)
            elif op.result is not None:
                detail = " -> %s" % (op.result,)
            lines.append("  %-40s %-7s%s%s" % (op.describe(), op.status, took, detail))
        return "\n".join(lines)

    def check(self, final, quiet=False):
        """Violations of `final` ({key: value}) against this history; prints the history if any."""
        ops = self.ops()
        violations = []
        by_key = {}
        for op in ops:
            by_key.setdefault(op.key, []).append(op)
        seen = {}
        for op in ops:
            if op.kind != "remove":
                if op.value in seen:
                    violations.append("value %r written twice (%s and %s): values must be unique" %
                                      (op.value, seen[op.value].describe(), op.describe()))
                seen[op.value] = op
        for key in sorted(set(by_key) | set(final), key=str):
            violations.extend(self._check_key(key, by_key.get(key, []), final.get(key, ABSENT)))
        if violations and not quiet:
            print("history check: %d violation(s):" % len(violations))
            for v in violations:
                print("  " + v)
            print("final state: %r" % (final,))
            print("history (%d ops):\n%s" % (len(ops), self.format()))
        return violations

    @staticmethod
    def _check_key(key, ops, observed):
        acked = [op for op in ops if op.status == "ok"]
        # The initial absence is a candidate that completed before anything was invoked.
        candidates = [(None, 0)] if observed is ABSENT else []
        candidates += [(op, op.done_by) for op in ops if op.status != "fail" and op.writes == observed]
        for op, done_by in candidates:
            if not any(a.invoked > done_by for a in acked):
                return []
        if not candidates:
            failed = [op for op in ops if op.status == "fail" and op.writes == observed]
            if failed:
                return ["%s: %s comes from %s, which was reported failed (definitely not applied)" %
                        (key, _show(observed), failed[0].describe())]
            if not ops:
                return ["%s: present (%s) but no operation on it was ever invoked" % (key, _show(observed))]
            return ["%s: %s was never written to this key" % (key, _show(observed))]
        # Every candidate was overwritten by an acknowledged op invoked after it completed: name the latest.
        op, done_by = max(candidates, key=lambda c: c[1])
        source = "the initial absence" if op is None else "%s (%s)" % (op.describe(), op.status)
        lost = [a.describe() for a in acked if a.invoked > done_by]
        return ["%s: lost acknowledged write: final %s comes from %s, but %s, invoked after that had completed, "
                "%s acknowledged" % (key, _show(observed), source, ", ".join(lost), "was" if len(lost) == 1 else "were")]
