#!/usr/bin/env python3
"""Restarts, crashes and a damaged or unwritable checkpoint, through the real binary: files rotated,
renamed, replaced and rewritten while the agent was stopped; a seeded kill -9 loop under a writer
with rotations; damaged checkpoints moved aside; a full disk under the state directory; pruning of
entries of files long gone. Every case checks the ids docs/reference.md derives and prints its figures."""
import glob
import json
import os
import random
import signal
import subprocess
import time

import agentlib
import tailtest
from agentlib import append_lines, expected_pos_ids, purchase_lines, run_agent, wait_for
from tailtest import Writer


def load_checkpoint(state):
    with open(os.path.join(state, "checkpoint.json")) as f:
        return json.load(f)


class Restarts(agentlib.AgentTestCase):
    def setUp(self):
        super().setUp()
        self.logs = self.path("logs")
        os.mkdir(self.logs, 0o700)
        self.state = self.path("state")

    def wait_arrived(self, ids, timeout=60):
        if os.environ.get("ONSIDE_AGENT_WRAPPER"):
            timeout *= 5  # under valgrind the agent runs many times slower
        want = set(ids)
        wait_for(lambda: want <= set(self.standin.event_ids()), timeout,
                 message="%d ids to arrive" % len(want))

    def run_until(self, cfg, ids):
        proc = self.start_agent(["run", "-c", cfg])
        self.wait_arrived(ids)
        self.assertEqual(agentlib.stop_agent(proc), 0, agentlib.agent_stderr(proc))
        return agentlib.agent_stderr(proc)

    def test_rotated_renamed_replaced_and_rewritten_while_stopped(self):
        a, b, c = (os.path.join(self.logs, n) for n in ("a.log", "b.log", "c.log"))
        for k, p in enumerate((a, b, c)):
            append_lines(p, purchase_lines(100, seed=20 + k, start=1000 * k + 1))
        first = expected_pos_ids(a) + expected_pos_ids(b) + expected_pos_ids(c)
        # start_at end: only files never seen before start at their end
        cfg = self.config(paths=[os.path.join(self.logs, "*.log")], input={"start_at": "beginning"})
        self.run_until(cfg, first)
        cfg = self.config(paths=[os.path.join(self.logs, "*.log")], input={"start_at": "end"})
        # a: more lines, then rotated to a name that no longer matches, and a new a.log
        append_lines(a, purchase_lines(50, seed=30, start=101))
        os.rename(a, a + ".1")
        append_lines(a, purchase_lines(30, seed=31, start=151))
        # b: deleted and replaced by a new file (also when the inode number is reused)
        os.unlink(b)
        append_lines(b, purchase_lines(10, seed=32, start=1101))
        # c: rewritten in place, longer than the saved offset: the check hash refuses the offset
        with open(c, "r+b") as f:
            f.truncate(0)
            f.write(b"".join(l.encode() + b"\n" for l in purchase_lines(150, seed=33, start=2101)))
        want = expected_pos_ids(a + ".1") + expected_pos_ids(a) + expected_pos_ids(b) + expected_pos_ids(c)
        err = self.run_until(cfg, want)
        self.assertIn("a.log.1: found under a rotated name", err)
        self.assertIn("content changed since the checkpoint", err)
        tailtest.verify(self, "rotated, replaced and rewritten while stopped",
                        list(dict.fromkeys(first + want)), self.standin)

    def test_kill_9_loop_loses_nothing_and_resends_identical_ids(self):
        rng = random.Random(42)
        log = os.path.join(self.logs, "purchases.log")
        cfg = self.config(paths=[log], input={"rotate_wait": "300ms"},
                          batch={"max_events": 40, "flush_interval": "50ms"})
        self.standin.control(slow_seconds=0.02, fault_slow=0.5)
        w = Writer(log, seed=40, interval=0.001)
        w.write_one()
        w.start()
        kills, rotations = 0, 0
        while kills < 24:
            proc = self.start_agent(["run", "-c", cfg])
            if os.environ.get("ONSIDE_AGENT_WRAPPER"):
                # under valgrind start-up alone takes seconds: killed during it, no agent would ever
                # follow the file, and the test would prove nothing. Natively, kills during start-up
                # are part of the mix.
                wait_for(lambda: "agent: started" in agentlib.agent_stderr(proc), 60,
                         message="the agent to start")
            time.sleep(rng.uniform(0.05, 0.5))
            if rng.random() < 0.4:  # rename-and-create, while the agent runs or just before it dies
                rotations += 1
                os.rename(log, "%s.%d" % (log, rotations))
                open(log, "ab").close()
            if rng.random() < 0.3:
                time.sleep(rng.uniform(0.0, 0.05))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            if os.path.exists(os.path.join(self.state, "checkpoint.json")):
                load_checkpoint(self.state)  # never damaged
        ids = w.stop()
        self.standin.control(fault_slow=0.0)
        present = tailtest.file_ids(self.logs)
        self.assertEqual(set(present), set(ids))
        err = self.run_until(cfg, ids)
        self.assertNotIn("damaged", err)
        self.assertEqual(glob.glob(os.path.join(self.state, "*.damaged-*")), [])
        tailtest.verify(self, "kill -9 loop (%d kills, %d rotations)" % (kills, rotations), ids, self.standin)

    def damaged_case(self, name, damage):
        log = self.write_log(purchase_lines(20, seed=50))
        cfg = self.config(paths=[log])
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        path = os.path.join(self.state, "checkpoint.json")
        with open(path, "rb") as f:
            good = f.read()
        with open(path, "wb") as f:
            f.write(damage(good))
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        self.assertIn("damaged", err)
        self.assertIn("moved aside", err)
        aside = glob.glob(path + ".damaged-*")
        self.assertEqual(len(aside), 1)
        with open(aside[0], "rb") as f:
            self.assertEqual(f.read(), damage(good))
        self.assertEqual(load_checkpoint(self.state)["files"][0]["offset"], os.path.getsize(log))
        arrived = self.standin.event_ids()
        self.assertEqual(arrived, expected_pos_ids(log) * 2)  # started over: the same ids again
        tailtest.figures("damaged checkpoint (%s)" % name, 20, arrived, len(arrived))

    def test_damaged_checkpoint_truncated(self):
        self.damaged_case("truncated", lambda b: b[:len(b) // 2])

    def test_damaged_checkpoint_garbage(self):
        self.damaged_case("garbage", lambda b: bytes(random.Random(7).getrandbits(8) for _ in range(300)))

    def test_damaged_checkpoint_wrong_version(self):
        self.damaged_case("wrong version", lambda b: b.replace(b'"version":1', b'"version":99'))

    def mount_tmpfs(self, path, size="64k"):
        os.mkdir(path)
        # mode: a fresh tmpfs is 1777, and the agent refuses a state directory others can write
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0750" % size, "tmpfs", path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            self.skipTest("cannot mount a tmpfs (needs root and mount permission): %s"
                          % p.stdout.decode(errors="replace").strip())
        self.addCleanup(subprocess.run, ["umount", "-l", path])

    def test_full_disk_keeps_the_old_checkpoint_and_retries(self):
        self.mount_tmpfs(self.state)
        log = self.write_log(purchase_lines(30, seed=60))
        cfg = self.config(paths=[log])
        proc = self.start_agent(["run", "-c", cfg])
        ckpt = os.path.join(self.state, "checkpoint.json")
        size1 = os.path.getsize(log)
        wait_for(lambda: os.path.exists(ckpt) and load_checkpoint(self.state)["files"][0]["offset"] == size1,
                 message="the first checkpoint")
        with open(ckpt, "rb") as f:
            before = f.read()
        filler = os.path.join(self.state, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"x" * 1024):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        append_lines(log, purchase_lines(40, seed=61, start=31))
        self.standin.wait_events(70)
        wait_for(lambda: "checkpoint" in agentlib.agent_stderr(proc) and
                 "No space left" in agentlib.agent_stderr(proc), message="the failed checkpoint write")
        with open(ckpt, "rb") as f:
            self.assertEqual(f.read(), before)  # the old one, intact
        os.unlink(filler)
        size2 = os.path.getsize(log)
        wait_for(lambda: load_checkpoint(self.state)["files"][0]["offset"] == size2, timeout=15,
                 message="the retried checkpoint")
        self.assertEqual(agentlib.stop_agent(proc), 0)
        self.assertEqual([n for n in os.listdir(self.state) if ".tmp." in n], [])
        tailtest.verify(self, "full disk under the checkpoint", expected_pos_ids(log), self.standin)

    def test_entries_of_files_long_gone_are_pruned(self):
        log = self.write_log(purchase_lines(5, seed=70))
        # a rotated file still in its directory, read to its end by a first run and no longer followed
        still = os.path.join(self.logs, "purchases.log.1")
        append_lines(still, purchase_lines(3, seed=71, start=10))
        rc, _, err = run_agent(["run", "--once", "-c", self.config(paths=[log, still])], env=self.env())
        self.assertEqual(rc, 0, err)
        cfg = self.config(paths=[log])
        cp = load_checkpoint(self.state)
        live, = [e for e in cp["files"] if e["path"] == log]
        now = int(time.time())
        # as old as the oldest gone one, but its file still sits at its path: it stays
        for e in cp["files"]:
            if e["path"] == still:
                e["updated"] = now - 3 * 86400
        gone = []
        for k, age in enumerate((3 * 86400, 2 * 86400, 3600)):
            e = dict(live, path=os.path.join(self.logs, "gone.log.%d" % k), ino=live["ino"] + 1000 + k,
                     updated=now - age)
            gone.append(e)
        gone[1]["size"] = gone[1]["offset"] + 100  # gone before it was delivered: pruned with a warning
        cp["files"] += gone
        with open(os.path.join(self.state, "checkpoint.json"), "w") as f:
            json.dump(cp, f)
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        paths = sorted(e["path"] for e in load_checkpoint(self.state)["files"])
        self.assertEqual(paths, sorted([log, gone[2]["path"], still]))
        self.assertIn("gone.log.1: forgetting its checkpoint entry", err)

    def test_hourly_rotation_keeps_the_checkpoint_small(self):
        log = os.path.join(self.logs, "purchases.log")
        cfg = self.config(paths=[log], input={"rotate_wait": "100ms"})
        append_lines(log, purchase_lines(2, seed=80))
        proc = self.start_agent(["run", "-c", cfg])
        want = expected_pos_ids(log)
        self.wait_arrived(want)
        for k in range(1, 31):
            os.rename(log, "%s.%d" % (log, k))
            append_lines(log, purchase_lines(2, seed=80 + k, start=2 * k + 1))
            want += expected_pos_ids(log)
            self.wait_arrived(want)
        wait_for(lambda: "rotated file done" in agentlib.agent_stderr(proc), message="a rotated file closed")
        self.assertEqual(agentlib.stop_agent(proc), 0)
        entries = load_checkpoint(self.state)["files"]
        # one entry per rotated file of the last day (each pruned a day after it was closed), and the live one
        self.assertEqual(sorted(e["path"] for e in entries), sorted([log] + ["%s.%d" % (log, k) for k in range(1, 31)]))
        self.assertTrue(all(e["offset"] == e["size"] for e in entries), entries)
        now = int(time.time())
        for e in entries:
            e["updated"] = now - 2 * 86400
            if e["path"] != log:
                e["path"] = e["path"] + ".deleted"
        with open(os.path.join(self.state, "checkpoint.json"), "w") as f:
            json.dump({"version": 1, "files": entries}, f)
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        self.assertEqual([e["path"] for e in load_checkpoint(self.state)["files"]], [log])
        tailtest.verify(self, "30 rotations, then a day later", want, self.standin)


if __name__ == "__main__":
    agentlib.main()
