#!/usr/bin/env python3
"""Resource limits through the real binary: a 100 MB line, a file of a billion zero bytes, 10,000 files
matching a glob (also under a low open-files limit), JSON nested 100,000 levels deep and regexes that
backtrack catastrophically. Each hostile input must end as a dead-letter entry (or a logged, bounded
refusal) while the agent keeps running, keeps its memory bounded and delivers the good lines around
it with their derived ids. Big files are sparse or written once; each case is bounded in time."""

import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib  # noqa: E402
from agentlib import append_lines, deadletters, event_id_pos, expected_pos_ids, purchase_lines, run_agent, wait_for  # noqa: E402

NS = "test-ns"
INPUT = "purchases"
MIB = 1 << 20
WRAPPED = bool(os.environ.get("ONSIDE_AGENT_WRAPPER"))
# Slower agents (valgrind, sanitizers) get more time; the bounds below are for a plain build.
SLOW = 10 if WRAPPED else 1


def line_offsets(lines, start=0):
    """The offset of each line (str, LF added) written one after another from start."""
    out = []
    for line in lines:
        out.append(start)
        start += len(line.encode()) + 1
    return out


class LimitCase(agentlib.AgentTestCase):
    # If the agent held a hostile line (>= 100 MiB) in memory, its peak RSS would exceed this.
    PEAK_KIB = 90 * 1024

    def setUp(self):
        super().setUp()
        self.state = self.path("state")

    def follow(self, cfg):
        return self.start_agent(["run", "-c", cfg])

    def assert_bounded_memory(self, proc, what):
        if WRAPPED or agentlib.sanitized():
            agentlib.lost_check(self, "peak RSS under %d KiB after %s: under ASan or valgrind the memory is "
                                "mostly the tool's" % (self.PEAK_KIB, what))
            return
        peak = agentlib.proc_status_kib(proc.pid, "VmHWM")
        self.assertGreater(peak, 0)
        self.assertLess(peak, self.PEAK_KIB, "peak RSS %d KiB after %s" % (peak, what))

    def assert_running(self, proc):
        self.assertIsNone(proc.poll(), "the agent exited:\n" + agentlib.agent_stderr(proc)[-3000:])

    def wait_deadletters(self, n, timeout):
        return wait_for(lambda: (lambda d: d if len(d) >= n else None)(deadletters(self.state)), timeout,
                        message="%d dead-letter entries" % n)

    def stop(self, proc):
        self.assertEqual(agentlib.stop_agent(proc, timeout=30 * SLOW), 0, agentlib.agent_stderr(proc)[-3000:])


class HugeLines(LimitCase):
    def test_a_100_mb_line_is_dead_lettered_with_bounded_memory(self):
        good = list(purchase_lines(4, seed=201))
        log = self.path("purchases.log")
        huge = 100 * MIB
        with open(log, "wb") as f:
            f.write(good[0].encode() + b"\n")
            # written in pieces and without its LF at first: the agent sees it grow
            for _ in range(huge // (10 * MIB)):
                f.write(b"y" * (10 * MIB))
        cfg = self.config(paths=[log])
        proc = self.follow(cfg)
        self.standin.wait_events(1, timeout=10 * SLOW)
        # time to read the whole unfinished line (100 MiB take well under a second)...
        time.sleep(2.0 * SLOW)
        self.assert_running(proc)
        self.assert_bounded_memory(proc, "an unfinished 100 MiB line")
        self.assertEqual(deadletters(self.state), [])  # not complete yet: nothing to say
        # ...then its LF and more good lines arrive
        append_lines(log, [""] + good[1:3])
        self.standin.wait_events(3, timeout=30 * SLOW)
        dl = self.wait_deadletters(1, timeout=10 * SLOW)
        self.assertEqual(len(dl), 1)
        e = dl[0]
        self.assertEqual(e["offset"], len(good[0]) + 1)
        self.assertEqual(e["length"], huge)
        self.assertEqual(e["line"], "y" * 65536)  # its first max_line_bytes (64KiB) bytes
        self.assertEqual(e["input"], INPUT)
        self.assertEqual(e["path"], log)
        self.assertIn("max_line_bytes", e["reason"])
        append_lines(log, good[3:])
        self.standin.wait_events(4, timeout=10 * SLOW)
        self.assert_running(proc)
        self.assert_bounded_memory(proc, "a 100 MiB line")
        self.stop(proc)
        after = len(good[0]) + 1 + huge + 1
        offsets = [0] + line_offsets(good[1:], after)
        want = [event_id_pos(NS, INPUT, good[0], off, line) for off, line in zip(offsets, good)]
        self.assertEqual(self.standin.event_ids(), want)
        with open(os.path.join(self.state, "checkpoint.json")) as f:
            self.assertEqual(json.load(f)["files"][0]["offset"], os.path.getsize(log))


class ZeroBytes(LimitCase):
    BILLION = 10 ** 9

    def zero_file(self, name="zeros.log"):
        p = self.path("logs", name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb"):
            pass
        os.truncate(p, self.BILLION)  # sparse: no disk, but a billion bytes to read
        return p

    def good_file(self, n=5, seed=210):
        return self.write_log(purchase_lines(n, seed=seed), name=os.path.join("logs", "good.log"))

    def zero_id(self, offset, line):
        # the file's first line has no LF within its first 4096 bytes: those are its fingerprint
        return event_id_pos(NS, INPUT, b"\0" * 4096, offset, line)

    def assert_zero_deadletter(self, e, path):
        self.assertEqual(e["path"], path)
        self.assertEqual(e["offset"], 0)
        self.assertEqual(e["length"], self.BILLION)
        self.assertEqual(e["line"], "\0" * 65536)

    def test_a_billion_zero_bytes_while_following(self):
        zeros = self.zero_file()
        good = self.good_file()
        cfg = self.config(paths=[self.path("logs", "*.log")])
        start = time.monotonic()
        proc = self.follow(cfg)
        self.standin.wait_events(5, timeout=30 * SLOW)
        # the zero file is one unfinished line: read (bounded), not yet an entry
        time.sleep(2.0)
        self.assert_running(proc)
        self.assert_bounded_memory(proc, "a billion zero bytes without LF")
        append_lines(good, purchase_lines(2, seed=211, start=6))
        self.standin.wait_events(7, timeout=10 * SLOW)
        # the line gets its LF, and good lines follow it
        more = list(purchase_lines(3, seed=212, start=20))
        append_lines(zeros, [""] + more)
        self.standin.wait_events(10, timeout=60 * SLOW)
        dl = self.wait_deadletters(1, timeout=10 * SLOW)
        self.assertEqual(len(dl), 1, dl)
        self.assert_zero_deadletter(dl[0], zeros)
        self.assert_running(proc)
        self.assert_bounded_memory(proc, "a billion zero bytes")
        self.stop(proc)
        self.assertLess(time.monotonic() - start, 60 * SLOW)
        offsets = line_offsets(more, self.BILLION + 1)
        want = expected_pos_ids(good) + [self.zero_id(off, line) for off, line in zip(offsets, more)]
        self.assertEqual(sorted(self.standin.event_ids()), sorted(want))

    def test_a_billion_zero_bytes_with_run_once(self):
        zeros = self.zero_file()
        good = self.good_file(seed=213)
        cfg = self.config(paths=[self.path("logs", "*.log")])
        # a final line without LF is read at the end once the file has been quiet a flush interval
        start = time.monotonic()
        try:
            rc, out, err = run_agent(["run", "--once", "-c", cfg], timeout=30 * SLOW)
        except subprocess.TimeoutExpired:
            self.fail("run --once did not finish within %ds on a file of a billion zero bytes without LF "
                      "(delivered %d of the 5 good lines)" % (30 * SLOW, len(self.standin.events())))
        self.assertEqual(rc, 0, err)
        self.assertLess(time.monotonic() - start, 30 * SLOW)
        self.assertEqual(sorted(self.standin.event_ids()), sorted(expected_pos_ids(good)))
        dl = deadletters(self.state)
        self.assertEqual(len(dl), 1, dl)
        self.assert_zero_deadletter(dl[0], zeros)
        with open(os.path.join(self.state, "checkpoint.json")) as f:
            cp = {e["path"]: e["offset"] for e in json.load(f)["files"]}
        self.assertEqual(cp[zeros], self.BILLION)


class ManyFiles(LimitCase):
    N = 10000

    def config(self, **overrides):
        # under valgrind a pass over 10,000 files can hold the loop longer than the usual 5s
        # request timeout; the timeouts it then logs are the tool's, not the agent's
        if WRAPPED:
            overrides.setdefault("endpoint", {"timeout": "120s"})
        return super().config(**overrides)

    def make_files(self):
        d = self.path("logs")
        os.mkdir(d)
        paths = []
        for k, line in enumerate(purchase_lines(self.N, seed=220)):
            p = os.path.join(d, "f%05d.purchases.log" % k)
            with open(p, "w") as f:
                f.write(line + "\n")
            paths.append(p)
        return d, paths

    def assert_bounded_log(self, err):
        """One "following" line per file and a few others: nothing logged per line, retry or poll."""
        lines = err.splitlines()
        others = [ln for ln in lines if " following " not in ln]
        self.assertLessEqual(len(lines) - len(others), self.N)
        self.assertLess(len(others), 20, "\n".join(others[:40]))

    def expected(self, paths):
        ids = []
        for p in paths:
            ids += expected_pos_ids(p)
        return sorted(ids)

    def test_ten_thousand_files_matching_a_glob(self):
        d, paths = self.make_files()
        want = self.expected(paths)
        glob = os.path.join(d, "*.purchases.log")
        # run --once
        start = time.monotonic()
        rc, out, err = run_agent(["run", "--once", "-c", self.config(name="once.yaml", paths=[glob],
                                                                     state_dir=self.path("state-once"))],
                                 timeout=60 * SLOW)
        self.assertEqual(rc, 0, err[-3000:])
        self.assertLess(time.monotonic() - start, 60 * SLOW)
        self.assertEqual(sorted(self.standin.event_ids()), want)
        # at most one log line per file, plus a few
        self.assert_bounded_log(err)
        # following them
        self.standin.control(reset_stats=True)
        cfg = self.config(paths=[glob])
        start = time.monotonic()
        proc = self.follow(cfg)
        self.standin.wait_events(2 * self.N, timeout=60 * SLOW)
        self.assertLess(time.monotonic() - start, 60 * SLOW)
        extra = list(purchase_lines(1, seed=221, start=self.N + 1))
        append_lines(paths[7777], extra)
        self.standin.wait_events(2 * self.N + 1, timeout=10 * SLOW)
        self.assert_running(proc)
        self.assert_bounded_memory(proc, "following 10,000 files")
        self.stop(proc)
        got = self.standin.event_ids()
        self.assertEqual(sorted(got[len(want):]), self.expected(paths))
        self.assert_bounded_log(agentlib.agent_stderr(proc))

    def test_ten_thousand_files_under_a_low_open_files_limit(self):
        d, paths = self.make_files()
        glob = os.path.join(d, "*.purchases.log")
        cfg = self.config(paths=[glob])
        limit = 256

        proc = self.start_agent(["run", "-c", cfg], rlimits={resource.RLIMIT_NOFILE: limit})
        self.standin.wait_events(self.N, timeout=60 * SLOW)
        extra = list(purchase_lines(1, seed=222, start=self.N + 1))
        append_lines(paths[1234], extra)
        self.standin.wait_events(self.N + 1, timeout=10 * SLOW)
        self.assert_running(proc)
        self.stop(proc)
        self.assertEqual(sorted(self.standin.event_ids()), self.expected(paths))
        self.assert_bounded_log(agentlib.agent_stderr(proc))


class Nesting(LimitCase):
    DEPTH = 100000

    def test_json_nested_100000_levels(self):
        good = list(purchase_lines(5, seed=230))
        head = '{"ts":"2026-05-05T12:00:00Z","event":"purchase_completed",' \
               '"install_id":"e3e70682-c209-4cac-a29f-6fbed82c07cd","order_id":'
        hostile = [
            '{"a":' * self.DEPTH + "1" + "}" * self.DEPTH,      # objects
            "[" * self.DEPTH + "]" * self.DEPTH,                 # arrays
            head + "[" * self.DEPTH + "]" * self.DEPTH + "}",   # deep inside a mapped field
            "[" * self.DEPTH,                                     # and never closed
            '{"a":[' * (self.DEPTH // 2) + "]}" * (self.DEPTH // 2),
        ]
        lines = [good[0], hostile[0], good[1], hostile[1], hostile[2], good[2], hostile[3], hostile[4], good[3]]
        log = self.write_log(lines)
        # lines up to 1 MiB reach the parser (the default 64KiB would stop them as too long)
        cfg = self.config(paths=[log], input={"max_line_bytes": "1MiB"})
        proc = self.follow(cfg)
        self.standin.wait_events(4, timeout=20 * SLOW)
        dl = self.wait_deadletters(len(hostile), timeout=10 * SLOW)
        offsets = line_offsets(lines)
        self.assertEqual(sorted(e["offset"] for e in dl),
                         sorted(offsets[k] for k, line in enumerate(lines) if line in hostile))
        for e in dl:
            self.assertRegex(e["reason"], r"(?i)nest|deep|depth")
            self.assertNotIn("length", e)
        append_lines(log, good[4:])
        self.standin.wait_events(5, timeout=10 * SLOW)
        self.assert_running(proc)
        self.stop(proc)
        ids = expected_pos_ids(log)
        self.assertEqual(self.standin.event_ids(),
                         [i for i, line in zip(ids, lines + good[4:]) if line not in hostile])
        # parse says the same, line by line, and stays up
        rc, out, err = run_agent(["parse", "-c", cfg, log], timeout=60 * SLOW)
        self.assertEqual(rc, 0, err)
        objs = [json.loads(x) for x in out.splitlines()]
        self.assertEqual(len(objs), len(lines) + 1)
        for obj, line in zip(objs, lines + good[4:]):
            self.assertEqual("rejected" in obj, line in hostile, obj)


class Backtracking(LimitCase):
    IID = "e3e70682-c209-4cac-a29f-6fbed82c07cd"

    def run_with(self, lines, bad_count, parser=None, match=None, reason=r"(?i)limit"):
        log = self.write_log(lines)
        over = {}
        if parser:
            over["parser"] = parser
            over["event"] = {"payload": ["order_id"]}
        if match:
            over["match"] = match
        cfg = self.config(paths=[log], input=over)
        start = time.monotonic()
        proc = self.follow(cfg)
        n_good = len(lines) - bad_count
        self.standin.wait_events(n_good, timeout=30 * SLOW)
        dl = self.wait_deadletters(bad_count, timeout=10 * SLOW)
        self.assertLess(time.monotonic() - start, 30 * SLOW)
        self.assertEqual(len(dl), bad_count)
        for e in dl:
            self.assertRegex(e["reason"], reason)
        self.assert_running(proc)
        self.stop(proc)
        ids = expected_pos_ids(log)
        bad_offsets = {e["offset"] for e in dl}
        offsets = line_offsets(lines)
        self.assertEqual(self.standin.event_ids(), [i for i, off in zip(ids, offsets) if off not in bad_offsets])
        return dl, offsets

    def test_catastrophic_parser_regex_hits_the_match_limit(self):
        pattern = r"^(?<ts>\S+) (?<event>\S+) (?<install_id>\S+) (?<order_id>(a+)+)$"
        lines = []
        for k in range(20):
            lines.append("2026-05-05T12:00:%02dZ purchase_completed %s %s" % (k, self.IID, "a" * (k + 1)))
            lines.append("2026-05-05T12:00:%02dZ purchase_completed %s %s!" % (k, self.IID, "a" * (40 + k)))
        dl, offsets = self.run_with(lines, 20, parser={"type": "regex", "pattern": pattern})
        self.assertEqual(sorted(e["offset"] for e in dl), offsets[1::2])

    def test_catastrophic_match_regex_is_dead_lettered_not_skipped(self):
        lines = []
        for k in range(20):
            for order in ("a" * (k + 1), "a" * (40 + k) + "!", "b%d" % k):
                lines.append(json.dumps({"ts": "2026-05-05T12:00:%02dZ" % k, "event": "purchase_completed",
                                         "install_id": self.IID, "order_id": order, "currency": "USD",
                                         "amount": "1.00"}))
        # the third of each trio does not match: skipped (counted), neither sent nor dead-lettered
        log = self.write_log(lines)
        cfg = self.config(paths=[log], input={"match": {"order_id": "^(a+)+$"}})
        start = time.monotonic()
        proc = self.follow(cfg)
        self.standin.wait_events(20, timeout=30 * SLOW)
        dl = self.wait_deadletters(20, timeout=10 * SLOW)
        self.assertLess(time.monotonic() - start, 30 * SLOW)
        self.assert_running(proc)
        self.stop(proc)
        offsets = line_offsets(lines)
        self.assertEqual(sorted(e["offset"] for e in dl), offsets[1::3])
        for e in dl:
            self.assertRegex(e["reason"], r"(?i)limit")
        ids = expected_pos_ids(log)
        self.assertEqual(self.standin.event_ids(), ids[0::3])


if __name__ == "__main__":
    agentlib.main()
