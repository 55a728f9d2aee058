#!/usr/bin/env python3
"""Nothing lost, nothing doubled, on the failure paths: a dead-letter file that cannot be written, a
server whose Retry-After is 0 or a 200 that is not the API, a directory deleted or switched under the
agent, an input renamed by a reload, a stop in the middle of a 400 bisect, compressed rotation while
stopped, the checkpoint catching up with dead-lettered lines, and `run --once` with a file dated in the
future. Every test drives the real binary against the stand-in."""

import gzip
import json
import os
import resource
import shutil
import signal
import time

import agentlib
from agentlib import (append_lines, expected_pos_ids, file_lines, event_id_pos, purchase_lines,
                      wait_for, deadletters)

NS = "test-ns"


def checkpoint_entry(state, path):
    try:
        with open(os.path.join(state, "checkpoint.json")) as f:
            doc = json.load(f)
    except FileNotFoundError:  # not written yet (it is replaced atomically: never half-written)
        return None
    for e in doc["files"]:
        if e["path"] == path:
            return e
    return None


def line_offsets(path):
    """(offset, line bytes) of every complete line."""
    with open(path, "rb") as f:
        return [(off, line) for off, line in file_lines(f.read())]


class ZeroLoss(agentlib.AgentTestCase):
    def setUp(self):
        super().setUp()
        self.state = self.path("state")
        self.log = self.path("purchases.log")

    def start_limited(self, cfg, limit):
        """The agent with a file size limit (as systemd's LimitFSIZE= sets)."""
        return self.start_agent(["run", "-c", cfg], rlimits={resource.RLIMIT_FSIZE: limit})

    def fill_deadletter(self, limit, room):
        """A dead-letter file that leaves `room` bytes under the size limit."""
        os.makedirs(self.state, exist_ok=True)
        rec = json.dumps({"time": "2026-01-01T00:00:00Z", "input": "old", "path": "/old", "offset": 0,
                          "reason": "filler", "line": "x" * 100}) + "\n"
        with open(os.path.join(self.state, "dead-letter.jsonl"), "w") as f:
            size = 0
            while size + len(rec) <= limit - room:
                f.write(rec)
                size += len(rec)
            f.write("#" * (limit - room - size - 1) + "\n")

    def records_for(self, offset, path=None):
        return [r for r in deadletters(self.state)
                if r.get("offset") == offset and r.get("input") == "purchases"
                and (path is None or r["path"] == path)]

    # --- 1. a dead-letter record that cannot be written keeps its line unfinished -------------------

    def test_unwritable_dead_letter_file_keeps_the_bad_line_for_the_next_start(self):
        good = list(purchase_lines(40, seed=1))
        lines = good[:20] + ["this is not json"] + good[20:]
        append_lines(self.log, lines)
        bad_off = [o for o, l in line_offsets(self.log) if l == b"this is not json"][0]
        limit = 256 * 1024
        self.fill_deadletter(limit, room=40)  # any record is longer than 40 bytes
        cfg = self.config(batch={"max_events": 5})
        proc = self.start_limited(cfg, limit)
        rc = proc.wait(30)
        err = agentlib.agent_stderr(proc)
        self.assertEqual(rc, 1, err)
        self.assertIn("cannot write the dead-letter file", err)
        self.assertIn("File too large", err)
        e = checkpoint_entry(self.state, self.log)
        self.assertIsNotNone(e, err)
        self.assertLessEqual(e["offset"], bad_off, "the checkpoint passed a line that is nowhere")
        # free space again: the restart dead-letters the line once and delivers everything else
        os.truncate(os.path.join(self.state, "dead-letter.jsonl"), 0)
        proc = self.start_agent(["run", "-c", cfg])
        want = set(expected_pos_ids(self.log)) - {event_id_pos(NS, "purchases", lines[0].encode(), bad_off,
                                                                b"this is not json")}
        wait_for(lambda: want <= set(self.standin.event_ids()), 30, message="all good lines delivered")
        wait_for(lambda: len(self.records_for(bad_off)) == 1, 10, message="the bad line dead-lettered")
        self.assertEqual(agentlib.stop_agent(proc), 0, agentlib.agent_stderr(proc))
        self.assertEqual(len(self.records_for(bad_off)), 1)
        self.assertEqual(checkpoint_entry(self.state, self.log)["offset"], os.path.getsize(self.log))

    def test_unwritable_dead_letter_file_keeps_a_rejected_event_for_the_next_start(self):
        append_lines(self.log, purchase_lines(12, seed=2))
        offs = line_offsets(self.log)
        ids = expected_pos_ids(self.log)
        self.standin.control(reject_ids=[ids[7]])
        limit = 256 * 1024
        self.fill_deadletter(limit, room=40)
        cfg = self.config()
        proc = self.start_limited(cfg, limit)
        rc = proc.wait(30)
        err = agentlib.agent_stderr(proc)
        self.assertEqual(rc, 1, err)
        self.assertIn("cannot write the dead-letter file", err)
        e = checkpoint_entry(self.state, self.log)
        self.assertTrue(e is None or e["offset"] <= offs[7][0], "the checkpoint passed the rejected event")
        os.truncate(os.path.join(self.state, "dead-letter.jsonl"), 0)
        proc = self.start_agent(["run", "-c", cfg])
        want = set(ids) - {ids[7]}
        wait_for(lambda: want <= set(self.standin.event_ids()), 30, message="all accepted lines delivered")
        wait_for(lambda: len(self.records_for(offs[7][0])) == 1, 10, message="the rejected line dead-lettered")
        self.assertEqual(agentlib.stop_agent(proc), 0, agentlib.agent_stderr(proc))
        rec = self.records_for(offs[7][0])
        self.assertEqual(len(rec), 1)
        self.assertEqual(rec[0]["status"], 400)

    # --- 5, 6. what the server says --------------------------------------------------------------

    def test_retry_after_zero_or_past_waits_initial_backoff_no_more_no_less(self):
        cfg = self.config(retry={"initial_backoff": "500ms", "max_backoff": "5s"}, batch={"max_in_flight": 1})
        slack = 0.3 * (10 if os.environ.get("ONSIDE_AGENT_WRAPPER") else 1)
        for k, header in enumerate(("Wed, 21 Oct 2015 07:28:00 GMT", "0")):  # a date in the past, then 0
            with self.subTest(retry_after=header):
                self.standin.control(reset_stats=True, status_script=[429, 429, 429], retry_after_value=header)
                mark = len(self.standin.api_requests())
                append_lines(self.log, purchase_lines(3, seed=3, start=1 + 3 * k))
                rc, _, err = agentlib.run_agent(["run", "--once", "-c", cfg], env=self.env())
                self.assertEqual(rc, 0, err)
                reqs = self.standin.api_requests()[mark:]
                self.assertEqual([r["status"] for r in reqs], [429, 429, 429, 204])
                # each wait is initial_backoff: never shorter (thousands of requests without the floor), and
                # not the growing backoff either (a Retry-After replaces it)
                for a, b in zip(reqs, reqs[1:]):
                    self.assertGreaterEqual(b["time"] - a["time"], 0.48, reqs)
                    self.assertLess(b["time"] - a["time"], 0.5 + slack, reqs)
        self.assertEqual(self.standin.event_ids(), expected_pos_ids(self.log))

    def test_http_200_is_not_taken_as_delivery(self):
        append_lines(self.log, purchase_lines(5, seed=4))
        self.standin.control(status_script=[200, 202, 200])
        cfg = self.config()
        proc = self.start_agent(["run", "-c", cfg])
        wait_for(lambda: len(self.standin.events()) == 5, 20, message="the events, after the 2xx answers")
        self.assertEqual(agentlib.stop_agent(proc), 0)
        err = agentlib.agent_stderr(proc)
        self.assertEqual(err.count("unexpected HTTP 200 from %s: not the Onside API?" % self.standin.url), 1, err)
        self.assertIn("injected status 200", err)  # the first bytes of the body
        self.assertEqual(sorted(self.standin.event_ids()), sorted(expected_pos_ids(self.log)))
        stats = self.standin.stats()
        self.assertEqual(stats["requests"], 4)

    # --- 16. the checkpoint follows dead-lettered lines without a stop --------------------------

    def test_checkpoint_moves_past_dead_lettered_lines_while_following(self):
        append_lines(self.log, purchase_lines(5, seed=5))
        cfg = self.config()
        proc = self.start_agent(["run", "-c", cfg])
        size = os.path.getsize(self.log)
        wait_for(lambda: (checkpoint_entry(self.state, self.log) or {}).get("offset") == size, 10,
                 message="the delivered lines in the checkpoint")
        time.sleep(1.5)  # no save pending any more: only the dead-lettered lines can move it now
        append_lines(self.log, ["not json 1", "not json 2", "not json 3"])
        size = os.path.getsize(self.log)
        wait_for(lambda: (checkpoint_entry(self.state, self.log) or {}).get("offset") == size, 10,
                 message="the checkpoint at the end of the file while the agent runs")
        self.assertEqual(len(deadletters(self.state)), 3)
        self.assertEqual(agentlib.stop_agent(proc), 0)

    # --- 9. a stop during a 400 bisect ----------------------------------------------------------

    def test_stop_during_a_400_bisect_dead_letters_each_line_once(self):
        append_lines(self.log, purchase_lines(16, seed=6))
        offs = line_offsets(self.log)
        ids = expected_pos_ids(self.log)
        # every request takes 0.4 s: the bisect of a 16-event batch takes a dozen of them, one at a time
        # (with more in flight the halves go together and may all be done when the stop comes)
        self.standin.control(reject_ids=[ids[3]], fault_slow=1.0, slow_seconds=0.4)
        cfg = self.config(batch={"max_events": 16, "flush_interval": "2s", "max_in_flight": 1},
                          agent={"shutdown_timeout": "100ms"})
        proc = self.start_agent(["run", "-c", cfg])
        wait_for(lambda: len(self.records_for(offs[3][0])) == 1, 30, message="the rejected line dead-lettered")
        self.assertEqual(agentlib.stop_agent(proc), 0, agentlib.agent_stderr(proc))
        self.assertLess(len(self.standin.events()), 15, "the bisect was over before the stop")
        self.standin.control(fault_slow=0.0)
        proc = self.start_agent(["run", "-c", cfg])
        want = set(ids) - {ids[3]}
        wait_for(lambda: want <= set(self.standin.event_ids()), 30, message="the rest delivered")
        self.assertEqual(agentlib.stop_agent(proc), 0, agentlib.agent_stderr(proc))
        self.assertEqual(len(self.records_for(offs[3][0])), 1, "dead-lettered again after the restart")
        self.assertEqual(len(deadletters(self.state)), 1)
        self.assertNotIn(ids[3], self.standin.event_ids())

    # --- 7. run --once does not trust the wall clock --------------------------------------------

    def test_once_finishes_with_a_file_dated_in_the_future(self):
        lines = list(purchase_lines(4, seed=7))
        with open(self.log, "wb") as f:
            f.write(b"".join(l.encode() + b"\n" for l in lines[:3]) + lines[3].encode())  # no final LF
        future = time.time() + 2 * 3600
        os.utime(self.log, (future, future))
        cfg = self.config(batch={"flush_interval": "300ms"})
        rc, _, err = agentlib.run_agent(["run", "--once", "-c", cfg], timeout=30)
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(self.standin.events()), 4, "the final line without LF is delivered too")

    # --- 2. directories that go away or switch ----------------------------------------------------

    def test_watched_directory_deleted_and_recreated_is_followed_again(self):
        d = self.path("logs")
        os.mkdir(d)
        first = os.path.join(d, "app.log")
        append_lines(first, purchase_lines(10, seed=8))
        want = expected_pos_ids(first)
        cfg = self.config(paths=[os.path.join(d, "*.log")], input={"rotate_wait": "200ms"})
        proc = self.start_agent(["run", "-c", cfg])
        wait_for(lambda: set(want) <= set(self.standin.event_ids()), 10)
        shutil.rmtree(d)
        time.sleep(0.3)
        os.mkdir(d)
        second = os.path.join(d, "app.log")
        append_lines(second, purchase_lines(10, seed=9, start=11))
        want += expected_pos_ids(second)
        wait_for(lambda: set(want) <= set(self.standin.event_ids()), 10,
                 message="the lines of the recreated directory")
        # and a directory two levels down that comes back later
        append_lines(second, purchase_lines(5, seed=10, start=21))
        want = expected_pos_ids(second)
        wait_for(lambda: set(want) <= set(self.standin.event_ids()), 10)
        self.assertEqual(agentlib.stop_agent(proc), 0, agentlib.agent_stderr(proc))
        self.assertEqual(len(self.standin.events()), 25)

    def test_directory_symlink_switched_is_followed_to_the_new_target(self):
        base = self.path("releases")
        os.makedirs(os.path.join(base, "v1"))
        os.makedirs(os.path.join(base, "v2"))
        current = os.path.join(base, "current")
        os.symlink("v1", current)
        v1 = os.path.join(base, "v1", "app.log")
        append_lines(v1, purchase_lines(10, seed=11))
        cfg = self.config(paths=[os.path.join(current, "*.log")], input={"rotate_wait": "200ms"})
        proc = self.start_agent(["run", "-c", cfg])
        want = expected_pos_ids(v1)
        wait_for(lambda: set(want) <= set(self.standin.event_ids()), 10)
        v2 = os.path.join(base, "v2", "app.log")
        append_lines(v2, purchase_lines(10, seed=12, start=11))
        # switched atomically, as `ln -sfn v2 current` does: a new link renamed over the old one
        os.symlink("v2", current + ".new")
        os.replace(current + ".new", current)
        want += expected_pos_ids(v2)
        wait_for(lambda: set(want) <= set(self.standin.event_ids()), 10, message="the new target's lines")
        append_lines(v2, purchase_lines(5, seed=13, start=21))
        want = expected_pos_ids(v1) + expected_pos_ids(v2)
        wait_for(lambda: set(want) <= set(self.standin.event_ids()), 10, message="lines appended after the switch")
        self.assertEqual(agentlib.stop_agent(proc), 0, agentlib.agent_stderr(proc))
        self.assertEqual(len(self.standin.events()), 25)

    # --- 3. an input renamed by a reload ----------------------------------------------------------

    def test_input_renamed_by_reload_keeps_following_its_file(self):
        append_lines(self.log, purchase_lines(10, seed=14))
        cfg = self.config()
        proc = self.start_agent(["run", "-c", cfg])
        first = expected_pos_ids(self.log)
        wait_for(lambda: set(first) <= set(self.standin.event_ids()), 10)
        n_before = len(first)
        self.config(input={"name": "orders"})
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reloaded" in agentlib.agent_stderr(proc), 10)
        append_lines(self.log, purchase_lines(10, seed=15, start=11))
        # the lines after the reload get ids with the new input's name, as after a restart
        later = expected_pos_ids(self.log, input_name="orders")[n_before:]
        wait_for(lambda: set(later) <= set(self.standin.event_ids()), 10,
                 message="lines appended after the rename")
        self.assertEqual(agentlib.stop_agent(proc), 0, agentlib.agent_stderr(proc))
        self.assertEqual(len(self.standin.events()), 20)
        e = checkpoint_entry(self.state, self.log)
        self.assertEqual((e["input"], e["offset"]), ("orders", os.path.getsize(self.log)))

    # --- 15. compressed rotation while stopped ----------------------------------------------------

    def rotate_and_compress(self, keep_gz=True):
        rotated = self.log + ".1"
        os.rename(self.log, rotated)
        if keep_gz:
            with open(rotated, "rb") as f, gzip.open(rotated + ".gz", "wb") as g:
                g.write(f.read())
        os.unlink(rotated)

    def test_compressed_rotation_while_stopped_is_read_from_the_gzip_file(self):
        append_lines(self.log, purchase_lines(20, seed=16))
        cfg = self.config()
        proc = self.start_agent(["run", "-c", cfg])
        wait_for(lambda: len(self.standin.events()) == 20, 10)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        # while stopped: more lines, then logrotate with compress and without delaycompress
        append_lines(self.log, purchase_lines(10, seed=17, start=21))
        want = expected_pos_ids(self.log)  # ids of the file as it was: its fingerprint, its offsets
        self.rotate_and_compress()
        append_lines(self.log, purchase_lines(5, seed=18, start=31))
        want += expected_pos_ids(self.log)
        proc = self.start_agent(["run", "-c", cfg])
        wait_for(lambda: set(want) <= set(self.standin.event_ids()), 15, message="the compressed tail and the new file")
        self.assertEqual(agentlib.stop_agent(proc), 0)
        err = agentlib.agent_stderr(proc)
        self.assertIn("rotated and compressed while the agent was stopped", err)
        self.assertIn(self.log + ".1.gz", err)
        self.assertEqual(len(self.standin.events()), 35)
        self.assertEqual(len(self.standin.event_ids()), len(set(self.standin.event_ids())))
        # nothing left over: a restart finds nothing more to send
        n = len(self.standin.events())
        proc = self.start_agent(["run", "-c", cfg])
        # up (a SIGTERM before the handlers are set ends it by the signal), then a second to find more
        wait_for(lambda: "started:" in agentlib.agent_stderr(proc), 30, message="the agent to start")
        time.sleep(1.0)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        self.assertEqual(len(self.standin.events()), n)

    def test_rotation_lost_while_stopped_is_a_warning_with_the_byte_count(self):
        append_lines(self.log, purchase_lines(20, seed=19))
        size = os.path.getsize(self.log)
        self.standin.control(mode="down")
        cfg = self.config()
        proc = self.start_agent(["run", "-c", cfg])
        wait_for(lambda: (checkpoint_entry(self.state, self.log) or {}).get("size") == size, 10,
                 message="the file's identity in the checkpoint")
        self.assertEqual(agentlib.stop_agent(proc), 0)
        # while stopped: rotated away and deleted, with nothing delivered
        self.rotate_and_compress(keep_gz=False)
        append_lines(self.log, purchase_lines(2, seed=22, start=34))
        self.standin.control(mode="up")
        rc, _, err = agentlib.run_agent(["run", "--once", "-c", cfg])
        self.assertEqual(rc, 0, err)
        self.assertIn("warn tail: %s: gone since the checkpoint (not in its directory under any name, nor "
                      "compressed beside it): %d bytes after offset 0 were not delivered" % (self.log, size), err)
        self.assertEqual(len(self.standin.events()), 2)


if __name__ == "__main__":
    agentlib.main()
