#!/usr/bin/env python3
"""Fault injection in CI: the soak of tests/soak/soak.py for about a minute. Three inputs rotate (rename,
delete-and-recreate, new files, a switched symlink) while the stand-in answers 20% of requests with
5xx, 10% with 429 and Retry-After, resets 5% of connections and answers 5% slower than the agent's
timeout. At the end every line written is delivered, no event is invented, every id is the derived
one, nothing is dead-lettered, the agent exits 0 on SIGTERM and its RSS stayed flat. The figures
(lines, requests, retries, duplicates sent, RSS at start and end) are printed. Run soak.py for the
10-minute version."""

import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "soak"))
import agentlib  # noqa: E402
import soak  # noqa: E402

DURATION = 50.0  # seconds of writing; with start-up and the drain the test takes about a minute
RATE = 150.0


class Faults(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="onside-test-faults-")

    def tearDown(self):
        if not os.environ.get("ONSIDE_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def test_one_minute_of_faults_and_rotations_loses_and_invents_nothing(self):
        s = soak.Soak(self.tmp, DURATION, seed=7, rate=RATE, rotate_every=4.0)
        problems = s.run()
        sys.stderr.write("\n" + s.report() + "\n")
        f = s.figures
        # the run was hostile: every kind of fault, retries, resends of slow batches, rotations
        self.assertGreater(f["failed_requests"], 10, f)
        self.assertGreater(f["duplicates_sent"], 0, f)
        self.assertTrue(all(n > 0 for n in f["rotations"].values()), f["rotations"])
        if problems:
            with open(os.path.join(self.tmp, "agent.stderr"), errors="replace") as err:
                tail = err.read()[-3000:]
            self.fail("; ".join(problems) + "\nagent stderr (end):\n" + tail)


if __name__ == "__main__":
    agentlib.main()
