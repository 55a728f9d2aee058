#!/usr/bin/env python3
"""`status` reads the checkpoint as `run` does, through the real binary: an entry `run` would call
damaged (a negative offset, an offset or size beyond a file offset, a time past year 9999) is shown
as a damaged entry with the loader's reason, never as a figure computed from it (no overflowed lag,
no garbage date); sound entries beside it are shown as usual; a checkpoint damaged as a whole is
reported and left in place (only `run` moves it aside); with no agent running, --max-failing judges
a lagging file by its last delivery (or none ever)."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib  # noqa: E402
from agentlib import purchase_lines, run_agent  # noqa: E402

INT64_MAX = 9223372036854775807


class StatusReadsTheCheckpointAsRunDoes(agentlib.AgentTestCase):
    def setUp(self):
        super().setUp()
        self.log = self.write_log(purchase_lines(4, seed=1))
        self.cfg = self.config(paths=[self.log])
        rc, _, err = run_agent(["run", "--once", "-c", self.cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        self.cp_path = os.path.join(self.path("state"), "checkpoint.json")
        with open(self.cp_path) as f:
            self.sound = json.load(f)["files"][0]

    def write_checkpoint(self, files=None, text=None):
        if text is None:
            text = json.dumps({"version": 1, "files": files})
        with open(self.cp_path, "w") as f:
            f.write(text)
        return text

    def status(self):
        rc, out, err = run_agent(["status", "-c", self.cfg], env=self.env())
        return rc, out, err

    def entry(self, path, **kw):
        e = dict(self.sound, path=path, last_delivery=1780000000, updated=1780000000)
        e.update(kw)
        return e

    def test_damaged_entries_are_shown_as_such_beside_sound_ones(self):
        gone = self.path("gone.log")
        text = self.write_checkpoint([
            self.sound,
            self.entry(self.path("a.log"), offset=-1, size=INT64_MAX),
            self.entry(self.path("b.log"), last_delivery=INT64_MAX),
            self.entry(self.path("c.log"), offset=INT64_MAX + 1),
            self.entry(gone, offset=0, size=INT64_MAX),
        ])
        rc, out, err = self.status()
        self.assertEqual(rc, 1, out + err)
        _, _, rows = agentlib.status_lines(out)
        self.assertEqual(len(rows), 5, out)
        size = os.path.getsize(self.log)
        self.assertEqual(rows[0].split()[:4], [self.log, str(size), str(size), "0"])
        damaged = [
            (self.path("a.log"), "offset is negative in files[1]"),
            (self.path("b.log"), "last_delivery is not a time between 1970 and 9999 in files[2]"),
            (self.path("c.log"), "offset is out of range in files[3]"),
        ]
        for row, (path, why) in zip(rows[1:4], damaged):
            self.assertEqual(row.split(None, 6), [path, "-", "-", "-", "-", "-", "damaged checkpoint entry: " + why])
        # a sound entry at the edge of the range: figures exact, no wrap-around; its file is gone
        # (rotated) with bytes not delivered, which the path says, not the error column
        self.assertEqual(rows[4].split(), [gone, "(rotated)", "0", str(INT64_MAX), str(INT64_MAX), "-",
                                           "2026-05-28T20:26:40Z", "-"])
        self.assertNotIn("-9223372036854775808", out)
        # status only reads: the file is where it was, byte for byte
        with open(self.cp_path) as f:
            self.assertEqual(f.read(), text)

    def test_max_failing_judges_a_lagging_file_by_its_last_delivery(self):
        # no agent runs: a file that lags, with its last delivery an hour ago (or never), has been
        # failing that long
        import time
        size = os.path.getsize(self.log)
        never = self.path("never.log")
        with open(never, "w") as f:
            f.write("x\n" * 10)
        hour_ago = int(time.time()) - 3600
        self.write_checkpoint([dict(self.sound, offset=size - 10, last_delivery=hour_ago),
                               self.entry(never, offset=0, size=20, last_delivery=0)])
        rc, out, err = run_agent(["status", "--max-failing", "10m", "-c", self.cfg], env=self.env())
        self.assertEqual(rc, 1, out + err)
        self.assertEqual(err.splitlines(), [
            "onside-agent: %s lags with no delivery for 1h, longer than --max-failing 10m" % self.log,
            "onside-agent: %s lags with no delivery ever, longer than --max-failing 10m" % never])
        # a limit longer than the hour: only the file never delivered is over it
        rc, out, err = run_agent(["status", "--max-failing", "2h", "-c", self.cfg], env=self.env())
        self.assertEqual(rc, 1, out + err)
        self.assertEqual(err.splitlines(), [
            "onside-agent: %s lags with no delivery ever, longer than --max-failing 2h" % never])

    def test_a_checkpoint_damaged_as_a_whole_is_reported_and_left_in_place(self):
        text = self.write_checkpoint(text='{"version":1,"files":[{"path":')
        rc, out, err = self.status()
        self.assertEqual(rc, 1, out + err)
        self.assertEqual(out, "agent: not running; from the checkpoint\n")
        self.assertEqual(err, "onside-agent: checkpoint %s is damaged (truncated JSON); the agent will move it "
                              "aside and start over from start_at\n" % self.cp_path)
        self.assertEqual(sorted(os.listdir(self.path("state"))),
                         sorted(["agent.lock", "checkpoint.json", "dead-letter.jsonl", "metrics.prom",
                                 "status.json"]))
        with open(self.cp_path) as f:
            self.assertEqual(f.read(), text)


if __name__ == "__main__":
    agentlib.main()
