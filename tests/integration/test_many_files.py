#!/usr/bin/env python3
"""Many files and the inotify gaps: 1,000 files followed at once under the common 1024-descriptor
limit (open descriptors and memory stay bounded, idle files are closed and reopened without losing
their place), the stat-poll fallback, and glob matches in directories created after the start."""
import os
import random
import resource
import subprocess

import agentlib
import tailtest
from agentlib import append_lines, expected_pos_ids, purchase_lines, wait_for


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def limit_fds():
    """The default soft limit of most distributions, whatever the test runner has."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))


class ManyFiles(agentlib.AgentTestCase):
    def setUp(self):
        super().setUp()
        self.logs = self.path("logs")
        os.mkdir(self.logs, 0o700)

    def wait_arrived(self, ids, timeout=90, probe=None):
        want = set(ids)

        def done():
            if probe:
                probe()
            return want <= set(self.standin.event_ids())
        wait_for(done, timeout, interval=0.2, message="%d ids to arrive" % len(want))

    def start(self, cfg, env=None):
        env = env or self.env()
        proc = agentlib.start_agent(["run", "-c", cfg], env=env, stderr_path=self.path("agent.stderr"))
        self._agents.append(proc)
        return proc

    def test_thousand_files_bounded_fds_and_memory_idle_close_and_reopen(self):
        rng = random.Random(90)
        paths = [os.path.join(self.logs, "f%04d.log" % k) for k in range(1000)]
        want = []
        for k, p in enumerate(paths):
            append_lines(p, purchase_lines(3, seed=1000 + k, start=3 * k + 1))
            want += expected_pos_ids(p)
        cfg = self.config(paths=[os.path.join(self.logs, "*.log")])
        env = self.env(ONSIDE_TEST_IDLE_CLOSE_MS="1500")  # test knob: idle after 1.5 s, not 5 min
        proc = self.start_limited(cfg, env)
        peak = [0, 0]

        def probe():
            peak[0] = max(peak[0], fd_count(proc.pid))
            peak[1] = max(peak[1], agentlib.proc_status_kib(proc.pid))
        self.wait_arrived(want, probe=probe)
        # descriptors: at most half the 1024 limit for files, plus the agent's own few
        self.assertLessEqual(peak[0], 512 + 32, "peak open descriptors")
        # memory: about 15 MiB measured (40 MiB under ASan, whose shadow memory and quarantine count)
        if os.environ.get("ONSIDE_AGENT_WRAPPER"):
            agentlib.lost_check(self, "peak RSS bound: under valgrind the RSS is the tool's")
        else:
            self.assertLess(peak[1], (96 if agentlib.sanitized() else 32) * 1024, "peak RSS KiB")
        # idle: every file descriptor closed, places kept
        wait_for(lambda: fd_count(proc.pid) < 40, timeout=20, interval=0.2, message="idle files closed")
        idle_fds = fd_count(proc.pid)
        more = []
        for k in rng.sample(range(1000), 50):
            append_lines(paths[k], purchase_lines(2, seed=5000 + k, start=10000 + 2 * k))
            more += expected_pos_ids(paths[k])[-2:]
        self.wait_arrived(want + more, probe=probe)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        arrived = tailtest.verify(self, "1000 files (peak %d fds, %d fds idle, peak RSS %d MiB)"
                                  % (peak[0], idle_fds, peak[1] // 1024), want + more, self.standin)
        self.assertEqual(len(arrived), len(set(arrived)), "reopened files were read again")

    def start_limited(self, cfg, env):
        err = open(self.path("agent-limited.stderr"), "ab")
        proc = subprocess.Popen(agentlib.agent_command() + ["run", "-c", cfg], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err, preexec_fn=limit_fds)
        err.close()
        proc.stderr_path = self.path("agent-limited.stderr")
        self._agents.append(proc)
        return proc

    def test_poll_fallback_without_inotify(self):
        log = os.path.join(self.logs, "purchases.log")
        append_lines(log, purchase_lines(10, seed=91))
        want = expected_pos_ids(log)
        cfg = self.config(paths=[os.path.join(self.logs, "*.log")], input={"rotate_wait": "1s"})
        # test knob: the agent takes its stat-poll path as on NFS, on a filesystem that has inotify
        proc = self.start(cfg, self.env(ONSIDE_TEST_NO_INOTIFY="1"))
        self.wait_arrived(want, timeout=20)
        append_lines(log, purchase_lines(5, seed=92, start=11))
        want = expected_pos_ids(log)
        self.wait_arrived(want, timeout=20)
        # rename-and-create, with a late write to the rotated file
        os.rename(log, log + ".1")
        append_lines(log, purchase_lines(5, seed=93, start=16))
        append_lines(log + ".1", purchase_lines(3, seed=94, start=21))
        other = os.path.join(self.logs, "other.log")
        append_lines(other, purchase_lines(4, seed=95, start=24))
        want = expected_pos_ids(log + ".1") + expected_pos_ids(log) + expected_pos_ids(other)
        self.wait_arrived(want, timeout=20)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        err = agentlib.agent_stderr(proc)
        self.assertEqual(err.count("ONSIDE_TEST_NO_INOTIFY"), 1, err)
        tailtest.verify(self, "stat poll instead of inotify", want, self.standin)

    def test_glob_matches_in_new_subdirectories(self):
        cfg = self.config(paths=[os.path.join(self.logs, "*", "purchases.log"),
                                 self.path("later", "deeper", "purchases.log")])
        proc = self.start(cfg)
        wait_for(lambda: "started:" in agentlib.agent_stderr(proc), message="the agent to start")
        want = []
        for k, d in enumerate(("shop1", "shop2")):
            os.mkdir(os.path.join(self.logs, d))
            p = os.path.join(self.logs, d, "purchases.log")
            append_lines(p, purchase_lines(3, seed=96 + k, start=10 * k + 1))
            want += expected_pos_ids(p)
            self.wait_arrived(want, timeout=20)
        os.makedirs(self.path("later", "deeper"))
        p = self.path("later", "deeper", "purchases.log")
        append_lines(p, purchase_lines(3, seed=98, start=100))
        want += expected_pos_ids(p)
        self.wait_arrived(want, timeout=20)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        tailtest.verify(self, "glob matches in new subdirectories", want, self.standin)


if __name__ == "__main__":
    agentlib.main()
