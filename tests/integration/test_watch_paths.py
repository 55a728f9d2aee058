#!/usr/bin/env python3
"""SPEC paths of following files that need the kernel to misbehave or a file to be left behind:
inotify's queue overflowing (events lost: every file is looked at again), the inotify watches running
out (the real limit, in a user namespace: the stat poll takes over), a rotated file's final line
without LF (handed out once rotate_wait has passed), and the bound on rotated files kept open."""
import json
import os
import re
import shutil
import signal
import subprocess
import time
import unittest

import agentlib
from agentlib import append_lines, event_id_pos, expected_pos_ids, purchase_lines, run_agent, wait_for

WRAPPED = bool(os.environ.get("ONSIDE_AGENT_WRAPPER"))
SLOW = 10 if WRAPPED else 1
NS, INPUT = "test-ns", "purchases"


def checkpoint_entry(state, path):
    """The checkpoint entry of the file at path, found by its inode (a rotated file's entry may still
    carry the name it had when its rename was seen)."""
    st = os.stat(path)
    with open(os.path.join(state, "checkpoint.json")) as f:
        entries = [e for e in json.load(f)["files"] if (e["dev"], e["ino"]) == (st.st_dev, st.st_ino)]
    if len(entries) != 1:
        raise AssertionError("%d checkpoint entries for %s" % (len(entries), path))
    return entries[0]


class WatchCase(agentlib.AgentTestCase):
    def setUp(self):
        super().setUp()
        self.logs = self.path("logs")
        os.mkdir(self.logs)
        self.state = self.path("state")

    def log(self, name):
        return os.path.join(self.logs, name)

    def wait_arrived(self, ids, timeout=15):
        want = set(ids)
        wait_for(lambda: want <= set(self.standin.event_ids()), timeout * SLOW,
                 message="%d ids to arrive (have %d)" % (len(want), len(want & set(self.standin.event_ids()))))

    def wait_log(self, proc, text, timeout=10):
        wait_for(lambda: text in agentlib.agent_stderr(proc), timeout * SLOW, message="the log line %r" % text)


class QueueOverflow(WatchCase):
    def test_events_lost_in_a_queue_overflow_are_found_by_a_rescan(self):
        a = self.log("a.log")
        append_lines(a, purchase_lines(2, seed=401))
        cfg = self.config(paths=[os.path.join(self.logs, "*.log")])
        # test knob: a read of more than 2 inotify events is what the kernel hands out after its queue of
        # 2 (fs.inotify.max_queued_events, a global setting no test may change) overflowed
        proc = self.start_agent(["run", "-c", cfg], env=self.env(ONSIDE_TEST_INOTIFY_QUEUE="2"))
        self.wait_arrived(expected_pos_ids(a))
        self.wait_log(proc, "agent: started")
        # events pile up while the agent is stopped: an append and three new files, more than 2
        proc.send_signal(signal.SIGSTOP)
        try:
            append_lines(a, purchase_lines(2, seed=402, start=10))
            new = []
            for k, name in enumerate(("b.log", "c.log", "d.log")):
                new.append(self.log(name))
                append_lines(new[-1], purchase_lines(2, seed=403 + k, start=20 + 10 * k))
        finally:
            proc.send_signal(signal.SIGCONT)
        want = expected_pos_ids(a) + [i for p in new for i in expected_pos_ids(p)]
        self.wait_arrived(want)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        err = agentlib.agent_stderr(proc)
        self.assertIn("warn tail: inotify queue overflow; rescanning every file", err)
        self.assertEqual(sorted(self.standin.event_ids()), sorted(want))


class WatchesRunOut(WatchCase):
    """fs.inotify.max_user_watches, exhausted for real: the agent runs in a user namespace whose user
    may hold `limit` watches (/proc/sys/user/max_inotify_watches is per user namespace)."""

    def limited(self, limit):
        unshare = shutil.which("unshare")
        if unshare is None:
            raise unittest.SkipTest("cannot make a user namespace: unshare (util-linux) is not installed")
        probe = subprocess.run([unshare, "-U", "-r", "sh", "-c", "echo 1 > /proc/sys/user/max_inotify_watches"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if probe.returncode != 0:
            raise unittest.SkipTest("cannot make a user namespace with its own inotify watch limit: %s"
                                    % probe.stdout.decode(errors="replace").strip())
        return [unshare, "-U", "-r", "sh", "-c", 'echo %d > /proc/sys/user/max_inotify_watches && exec "$@"' % limit,
                "sh"]

    def follow_and_rotate(self, limit, why):
        log = self.log("purchases.log")
        append_lines(log, purchase_lines(3, seed=410))
        cfg = self.config(paths=[os.path.join(self.logs, "*.log")], input={"rotate_wait": "3s"})
        proc = self.start_agent(["run", "-c", cfg], prefix=self.limited(limit))
        self.wait_arrived(expected_pos_ids(log))
        self.wait_log(proc, "agent: started")
        append_lines(log, purchase_lines(2, seed=411, start=10))
        self.wait_arrived(expected_pos_ids(log))
        # rename-and-create with a late write to the rotated file, and a new file
        os.rename(log, self.log("purchases.log.1"))
        append_lines(log, purchase_lines(2, seed=412, start=20))
        append_lines(self.log("purchases.log.1"), purchase_lines(1, seed=413, start=30))
        other = self.log("other.log")
        append_lines(other, purchase_lines(2, seed=414, start=40))
        want = expected_pos_ids(self.log("purchases.log.1")) + expected_pos_ids(log) + expected_pos_ids(other)
        self.wait_arrived(want)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        err = agentlib.agent_stderr(proc)
        self.assertEqual(len(re.findall(re.escape(why) + r"; polling it \(and any other path for the same reason\) "
                                        r"every 2 s", err)), 1, err)
        self.assertEqual(sorted(self.standin.event_ids()), sorted(want))

    def test_files_are_polled_when_no_watch_is_left_for_them(self):
        # one watch: the directory's; none for the files
        self.follow_and_rotate(1, "out of inotify watches (fs.inotify.max_user_watches)")

    def test_directories_are_polled_when_no_watch_is_left_at_all(self):
        self.follow_and_rotate(0, "no inotify events for this directory")


class RotatedFiles(WatchCase):
    def test_a_rotated_files_last_line_without_lf_is_sent_once_rotate_wait_has_passed(self):
        log = self.log("purchases.log")
        append_lines(log, purchase_lines(3, seed=420))
        cfg = self.config(paths=[log], input={"rotate_wait": "1s"})
        proc = self.start_agent(["run", "-c", cfg])
        self.wait_arrived(expected_pos_ids(log))
        rotated = self.log("purchases.log.1")
        os.rename(log, rotated)
        append_lines(log, purchase_lines(1, seed=421, start=10))
        self.wait_arrived(expected_pos_ids(log))
        self.wait_log(proc, "; reading it to its end")
        # the last write comes a while after the rotation: rotate_wait counts from it, not from the rename
        time.sleep(0.6)
        last = next(purchase_lines(1, seed=422, start=20))
        offset = os.path.getsize(rotated)
        with open(rotated, "ab") as f:
            f.write(last.encode())  # the application's last write before it reopened: no LF
        written = time.monotonic()
        with open(rotated, "rb") as f:
            first = f.readline()
        last_id = event_id_pos(NS, INPUT, first, offset, last)
        self.wait_arrived([last_id])
        waited = time.monotonic() - written
        self.wait_log(proc, "%s: rotated file done, closing it" % rotated)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        self.assertGreaterEqual(waited, 0.9, "the line without LF was sent before rotate_wait passed")
        want = expected_pos_ids(rotated) + [last_id] + expected_pos_ids(log)
        self.assertEqual(sorted(self.standin.event_ids()), sorted(want))
        self.assertEqual(checkpoint_entry(self.state, rotated)["offset"], os.path.getsize(rotated))

    def test_past_the_bound_on_open_rotated_files_the_oldest_is_closed_and_read_on_after_a_restart(self):
        log = self.log("purchases.log")
        append_lines(log, purchase_lines(1, seed=430))
        cfg = self.config(paths=[log], input={"rotate_wait": "60s"})
        # test knob: at most 2 rotated files open, not 128
        proc = self.start_agent(["run", "-c", cfg], env=self.env(ONSIDE_TEST_MAX_ROTATED="2"))
        want = expected_pos_ids(log)
        self.wait_arrived(want)
        for k in (1, 2, 3):
            os.rename(log, "%s.%d" % (log, k))
            append_lines(log, purchase_lines(1, seed=430 + k, start=10 * k))
            want += expected_pos_ids(log)
            self.wait_arrived(want)
            wait_for(lambda: agentlib.agent_stderr(proc).count("; reading it to its end") == k, 10 * SLOW,
                     message="rotation %d seen" % k)
        self.wait_log(proc, "more than 2 rotated files open: closing ")
        closed_at = os.path.getsize(log + ".1")
        # late writes to every rotated file: the two still open are read, the closed one is not
        for k in (1, 2, 3):
            append_lines("%s.%d" % (log, k), purchase_lines(1, seed=440 + k, start=100 + k))
        late = {k: expected_pos_ids("%s.%d" % (log, k))[-1] for k in (1, 2, 3)}
        self.wait_arrived(want + [late[2], late[3]])
        self.assertNotIn(late[1], self.standin.event_ids())
        self.assertEqual(agentlib.stop_agent(proc), 0)
        err = agentlib.agent_stderr(proc)
        self.assertEqual(err.count("more than 2 rotated files open"), 1, err)
        self.assertEqual(checkpoint_entry(self.state, log + ".1")["offset"], closed_at)
        # its entry stayed: a restart finds it in its directory and reads the rest
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        want += [late[1], late[2], late[3]]
        self.assertEqual(sorted(self.standin.event_ids()), sorted(want))


if __name__ == "__main__":
    agentlib.main()
