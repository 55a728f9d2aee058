#!/usr/bin/env python3
"""SPEC paths of delivery through the real binary: start_at: end (for a file found at start, one that
appears while running, and the files of an input added by a reload), an event larger than
batch.max_bytes on its own, batches cut by bytes before 1,000 events (the body as sent), and
agent.shutdown_timeout expiring with a request in flight."""
import json
import os
import random
import re
import signal
import time

import agentlib
from agentlib import append_lines, deadletters, expected_pos_ids, purchase_lines, run_agent, wait_for

WRAPPED = bool(os.environ.get("ONSIDE_AGENT_WRAPPER"))
SLOW = 10 if WRAPPED else 1
EMPTY_BODY = len('{"events":[]}')
REQUEST_RE = re.compile(r" POST /attribution-api/v1/events status=(\d+) events=(\d+) bytes=(\d+) ")


def checkpoint(state):
    with open(os.path.join(state, "checkpoint.json")) as f:
        return json.load(f)


def noted_lines(n, seed, sizes, start=1):
    """n purchase lines with a "note" of a length drawn from sizes (a range) by random.Random(seed)."""
    rng = random.Random(seed)
    out = []
    for line in purchase_lines(n, seed=seed, start=start):
        doc = json.loads(line)
        doc["note"] = "n" * rng.choice(sizes)
        out.append(json.dumps(doc, separators=(",", ":")))
    return out


def as_sent(event):
    """An event's bytes in a request body: the stand-in records what it parsed, in the agent's key
    order; the agent writes compact JSON, ASCII as is."""
    return len(json.dumps(event, separators=(",", ":")))


def requests(standin):
    """(status, events, body bytes) of every API request, in the order they were answered."""
    return [tuple(int(x) for x in m.groups()) for m in REQUEST_RE.finditer(standin.log())]


NOTED = {"payload": ["order_id", "currency", "amount", "note"]}


class StartAtEnd(agentlib.AgentTestCase):
    """start_at: end is where a file seen for the first time starts: at start, and for the files of an
    input a reload adds. A file that appears while the agent runs was written while it watched: it is
    read from its beginning (SPEC, and onside-agent.yaml(5): "where to start in a file seen for the
    first time")."""

    def following_offset(self, proc, path):
        pattern = r"following %s \(input \S+\) from offset (\d+)" % re.escape(path)
        m = wait_for(lambda: re.search(pattern, agentlib.agent_stderr(proc)), timeout=10 * SLOW,
                     message="the agent to follow %s" % path)
        return int(m.group(1))

    def test_a_file_found_at_start_is_read_from_after_its_last_complete_line(self):
        lines = list(purchase_lines(9, seed=301))
        log = self.write_log(lines[:5])
        with open(log, "ab") as f:
            f.write(lines[5].encode())  # a line being written: no LF yet
        before = os.path.getsize(log) - len(lines[5])
        cfg = self.config(paths=[log], input={"start_at": "end"})
        proc = self.start_agent(["run", "-c", cfg])
        self.assertEqual(self.following_offset(proc, log), before)
        with open(log, "ab") as f:
            f.write(b"\n")  # the line being written ends: it is read whole
        append_lines(log, lines[6:8])
        self.standin.wait_events(3, timeout=10 * SLOW)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        self.assertEqual(self.standin.event_ids(), expected_pos_ids(log)[5:])
        self.assertEqual(checkpoint(self.path("state"))["files"][0]["offset"], os.path.getsize(log))
        # the checkpoint decides from now on, not start_at: a line appended while stopped is sent
        append_lines(log, lines[8:])
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.standin.event_ids(), expected_pos_ids(log)[5:])

    def test_a_file_that_appears_while_running_is_read_from_its_beginning(self):
        logs = self.path("logs")
        os.mkdir(logs)
        old = os.path.join(logs, "a.log")
        append_lines(old, purchase_lines(3, seed=302))
        cfg = self.config(paths=[os.path.join(logs, "*.log")], input={"start_at": "end"})
        proc = self.start_agent(["run", "-c", cfg])
        self.assertEqual(self.following_offset(proc, old), os.path.getsize(old))
        wait_for(lambda: "agent: started" in agentlib.agent_stderr(proc), message="the agent to start")
        new = os.path.join(logs, "b.log")
        append_lines(new, purchase_lines(4, seed=303, start=10))
        self.assertEqual(self.following_offset(proc, new), 0)
        self.standin.wait_events(4, timeout=10 * SLOW)
        append_lines(old, purchase_lines(1, seed=304, start=20))
        self.standin.wait_events(5, timeout=10 * SLOW)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        self.assertEqual(sorted(self.standin.event_ids()), sorted(expected_pos_ids(new) + expected_pos_ids(old)[3:]))

    def test_the_files_of_an_input_added_by_a_reload_start_at_their_end(self):
        log = self.write_log(purchase_lines(2, seed=305))
        other = self.write_log(purchase_lines(3, seed=306, start=10), name="other.log")
        cfg = self.config(paths=[log])
        proc = self.start_agent(["run", "-c", cfg])
        self.standin.wait_events(2, timeout=10 * SLOW)
        extra = agentlib.default_input([other], name="extra")
        extra["start_at"] = "end"
        self.config(paths=[log], inputs=[agentlib.default_input([log]), extra])
        proc.send_signal(signal.SIGHUP)
        self.assertEqual(self.following_offset(proc, other), os.path.getsize(other))
        append_lines(other, purchase_lines(2, seed=307, start=20))
        self.standin.wait_events(4, timeout=10 * SLOW)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        self.assertIn("reloaded %s: 2 inputs" % cfg, agentlib.agent_stderr(proc))
        self.assertEqual(sorted(self.standin.event_ids()),
                         sorted(expected_pos_ids(log) + expected_pos_ids(other, input_name="extra")[3:]))


class BatchBytes(agentlib.AgentTestCase):
    def once(self, cfg):
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env(), timeout=120 * SLOW)
        self.assertEqual(rc, 0, err)
        return err

    def test_an_event_larger_than_max_bytes_alone_is_dead_lettered_and_the_file_goes_on(self):
        lines = noted_lines(7, seed=310, sizes=range(10, 40))
        doc = json.loads(lines[3])
        doc["note"] = "N" * 1500
        lines[3] = json.dumps(doc, separators=(",", ":"))
        log = self.write_log(lines)
        cfg = self.config(paths=[log], input={"event": NOTED}, batch={"max_bytes": 1024, "max_in_flight": 1})
        self.once(cfg)
        ids = expected_pos_ids(log)
        self.assertEqual(self.standin.event_ids(), ids[:3] + ids[4:])
        dl = deadletters(self.path("state"))
        self.assertEqual(len(dl), 1, dl)
        self.assertEqual(dl[0]["reason"], "event larger than batch.max_bytes (1024 bytes)")
        self.assertEqual(dl[0]["line"], lines[3])
        self.assertEqual(dl[0]["offset"], sum(len(x) + 1 for x in lines[:3]))
        self.assertEqual((dl[0]["input"], dl[0]["path"]), ("purchases", log))
        self.assertNotIn("status", dl[0])
        self.assertEqual(checkpoint(self.path("state"))["files"][0]["offset"], os.path.getsize(log))
        for status, _, size in requests(self.standin):
            self.assertEqual(status, 204)
            self.assertLessEqual(size, 1024)

    def test_batches_are_cut_by_bytes_before_1000_events_and_the_body_is_counted_as_sent(self):
        lines = noted_lines(2500, seed=311, sizes=range(1000, 1300))  # events of 1.2 to 1.5 KB
        log = self.write_log(lines)
        # a flush_interval longer than the run: every cut is by bytes (with the suite's 100ms a loaded
        # machine flushed a batch before it was full)
        cfg = self.config(paths=[log], input={"event": NOTED}, batch={"max_in_flight": 1, "flush_interval": "60s"})
        self.once(cfg)
        events = self.standin.events()
        self.assertEqual([e["event_id"] for e in events], expected_pos_ids(log))
        reqs = requests(self.standin)
        self.assertEqual([r[0] for r in reqs], [204] * len(reqs))
        self.assertEqual(sum(r[1] for r in reqs), 2500)
        self.assertGreater(len(reqs), 2)
        at = 0
        for k, (_, n, size) in enumerate(reqs):
            sent = events[at:at + n]
            at += n
            self.assertLess(n, 1000)
            # the body's size, counted from the events as sent: the stand-in saw exactly that many bytes
            self.assertEqual(size, EMPTY_BODY + sum(as_sent(e) for e in sent) + n - 1, "request %d" % k)
            self.assertLessEqual(size, 999999)
            if at < len(events):  # full: the next event would not have fitted
                self.assertGreater(size + 1 + as_sent(events[at]), 999999, "request %d" % k)


    def test_every_batch_is_as_full_as_a_small_max_bytes_allows(self):
        # hundreds of cuts (the test above makes three): a byte count off by a few bytes per event (the
        # separators, say) shows as a body over max_bytes, or as a batch cut while the next event fitted
        lines = noted_lines(3000, seed=312, sizes=range(20, 300))
        log = self.write_log(lines)
        cfg = self.config(paths=[log], input={"event": NOTED},
                          batch={"max_bytes": 4096, "max_in_flight": 1, "flush_interval": "60s"})
        self.once(cfg)
        events = self.standin.events()
        self.assertEqual([e["event_id"] for e in events], expected_pos_ids(log))
        reqs = requests(self.standin)
        self.assertEqual([r[0] for r in reqs], [204] * len(reqs))
        self.assertEqual(sum(r[1] for r in reqs), 3000)
        self.assertGreater(len(reqs), 200)
        at = 0
        for k, (_, n, size) in enumerate(reqs):
            sent = events[at:at + n]
            at += n
            self.assertEqual(size, EMPTY_BODY + sum(as_sent(e) for e in sent) + n - 1, "request %d" % k)
            self.assertLessEqual(size, 4096, "request %d" % k)
            if at < len(events):
                self.assertGreater(size + 1 + as_sent(events[at]), 4096, "request %d" % k)


class ShutdownTimeout(agentlib.AgentTestCase):
    def test_shutdown_timeout_expiring_with_a_request_in_flight_exits_0_and_resends_after_a_restart(self):
        log = self.write_log(purchase_lines(40, seed=320))
        delivered_end = os.path.getsize(log)
        cfg = self.config(paths=[log], agent={"shutdown_timeout": "1s"}, endpoint={"timeout": "60s"},
                          batch={"max_in_flight": 1})
        proc = self.start_agent(["run", "-c", cfg])
        self.standin.wait_events(40, timeout=10 * SLOW)
        wait_for(lambda: checkpoint(self.path("state"))["files"][0]["offset"] == delivered_end,
                 timeout=10 * SLOW, message="the checkpoint at the delivered end")
        # the server stalls: the next request stays in flight
        self.standin.control(fault_slow=1.0, slow_seconds=60)
        append_lines(log, purchase_lines(25, seed=321, start=41))
        wait_for(lambda: self.standin.stats()["in_flight"] >= 1, timeout=10 * SLOW, message="a stalled request")
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30 * SLOW)
        took = time.monotonic() - start
        err = agentlib.agent_stderr(proc)
        self.assertEqual(rc, 0, err)
        self.assertIn("shutdown timeout: 1 batches not delivered; they will be resent at the next start", err)
        self.assertGreaterEqual(took, 0.9, "stopped before shutdown_timeout passed")
        self.assertLess(took, 10 * SLOW, err)
        self.assertEqual(checkpoint(self.path("state"))["files"][0]["offset"], delivered_end)
        self.assertEqual(len(self.standin.events()), 40)
        # a restart resends the stalled lines with the same ids (the stand-in never recorded them)
        self.standin.stop()
        self.standin.start()
        self.standin.control(fault_slow=0.0)
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env(), timeout=60 * SLOW)
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.standin.event_ids(), expected_pos_ids(log))


if __name__ == "__main__":
    agentlib.main()
