#!/usr/bin/env python3
"""What the agent tells its surroundings, through the real binary: systemd's readiness protocol
(READY=1 once the configuration and the checkpoint are loaded, STOPPING=1 on shutdown, to the socket
in NOTIFY_SOCKET), log lines when stderr is the journal (JOURNAL_STREAM names stderr: the syslog
priority first, no timestamp), and run --once's progress line on a terminal (driven through a pty;
never without a terminal)."""
import errno
import os
import pty
import re
import signal
import socket
import subprocess
import uuid

import agentlib
from agentlib import purchase_lines

WRAPPED = bool(os.environ.get("ONSIDE_AGENT_WRAPPER"))
SLOW = 10 if WRAPPED else 1

LEVEL = r"(?:error|warn|info|debug)"
# A log line on the journal, as main writes it: the syslog priority first (error 3, warn 4, info 6,
# debug 7: docs/reference.md) and no timestamp (the journal stamps each line).
JOURNAL_LINE = re.compile(r"^(?:<3>error|<4>warn|<6>info|<7>debug) [a-z]+: \S")
# Elsewhere: an ISO 8601 UTC timestamp first.
PLAIN_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ " + LEVEL + r" [a-z]+: \S")
PROGRESS = re.compile(r"(\d+\.\d) (KiB|MiB|GiB) of (\d+\.\d) (KiB|MiB|GiB), (\d+) events/s, (\d+) s left")


class Notify(agentlib.AgentTestCase):
    def listen(self, address):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.bind(address)
        s.settimeout(15 * SLOW)
        return s

    def follow(self, notify_socket):
        log = self.write_log(purchase_lines(3, seed=501))
        cfg = self.config(paths=[log])
        return self.start_agent(["run", "-c", cfg], env=self.env(NOTIFY_SOCKET=notify_socket))

    def test_ready_once_started_and_stopping_on_shutdown(self):
        path = self.path("notify.sock")
        s = self.listen(path)
        proc = self.follow(path)
        self.assertEqual(s.recv(256), b"READY=1")
        # ready means the configuration, the state directory and the checkpoint are loaded
        self.assertIn("agent: started: 1 files, 1 inputs", agentlib.agent_stderr(proc))
        self.assertTrue(os.path.exists(self.path("state", "agent.lock")))
        self.standin.wait_events(3, timeout=10 * SLOW)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(s.recv(256), b"STOPPING=1")
        self.assertEqual(proc.wait(15 * SLOW), 0)
        s.settimeout(0)
        self.assertRaises(BlockingIOError, s.recv, 256)  # nothing more

    def test_an_abstract_socket_is_reached_too(self):
        name = "onside-test-%s" % uuid.uuid4().hex
        s = self.listen("\0" + name)
        proc = self.follow("@" + name)
        self.assertEqual(s.recv(256), b"READY=1")
        self.assertEqual(agentlib.stop_agent(proc), 0)
        self.assertEqual(s.recv(256), b"STOPPING=1")

    def test_a_configuration_that_cannot_work_is_never_ready(self):
        path = self.path("notify.sock")
        s = self.listen(path)
        cfg = self.config(paths=[self.path("purchases.log")], batch={"max_events": 0})
        rc, _, err = agentlib.run_agent(["run", "-c", cfg], env=self.env(NOTIFY_SOCKET=path))
        self.assertEqual(rc, 2, err)
        s.settimeout(0)
        self.assertRaises(BlockingIOError, s.recv, 256)

    def test_a_relative_notify_socket_is_ignored(self):
        log = self.write_log(purchase_lines(2, seed=502))
        # a socket does listen at that name in the agent's working directory: it must hear nothing
        cwd = self.path("cwd")
        os.mkdir(cwd)
        s = self.listen(os.path.join(cwd, "relative.sock"))
        p = subprocess.run(agentlib.agent_command() + ["run", "--once", "-c", self.config(paths=[log])],
                           env=self.env(NOTIFY_SOCKET="relative.sock"), cwd=cwd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60 * SLOW)
        self.assertEqual(p.returncode, 0, p.stderr.decode("utf-8", "replace"))
        self.assertEqual(len(self.standin.events()), 2)
        s.settimeout(0)
        self.assertRaises(BlockingIOError, s.recv, 256)


class Journal(agentlib.AgentTestCase):
    def run_once(self, env):
        log = self.write_log(purchase_lines(3, seed=510))
        errpath = self.path("stderr-%d" % len(self._agents))
        open(errpath, "wb").close()
        st = os.stat(errpath)
        env = {k: v.replace("DEV:INO", "%d:%d" % (st.st_dev, st.st_ino)) for k, v in env.items()}
        proc = agentlib.start_agent(["run", "--once", "-c", self.config(paths=[log])], env=self.env(**env),
                                    stderr_path=errpath)
        self._agents.append(proc)
        self.assertEqual(proc.wait(60 * SLOW), 0, agentlib.agent_stderr(proc))
        lines = agentlib.agent_stderr(proc).splitlines()
        self.assertIn("agent: started: 1 files, 1 inputs", "\n".join(lines))
        return lines

    def test_on_the_journal_log_lines_carry_no_timestamp(self):
        lines = self.run_once({"JOURNAL_STREAM": "DEV:INO"})
        self.assertGreater(len(lines), 2)
        for line in lines:
            self.assertRegex(line, JOURNAL_LINE)

    def test_elsewhere_log_lines_start_with_a_timestamp(self):
        for line in self.run_once({}):
            self.assertRegex(line, PLAIN_LINE)


class Progress(agentlib.AgentTestCase):
    def backfill(self):
        log = self.write_log(purchase_lines(1000, seed=520))
        # four requests of a third of a second each: the run lasts long enough for the line to move
        self.standin.control(fault_slow=1.0, slow_seconds=0.35)
        cfg = self.config(paths=[log], batch={"max_events": 250, "max_in_flight": 1})
        return log, cfg

    def test_run_once_on_a_terminal_shows_a_progress_line_that_ends_with_the_summary(self):
        log, cfg = self.backfill()
        master, slave = pty.openpty()
        proc = subprocess.Popen(agentlib.agent_command() + ["run", "--once", "-c", cfg], env=self.env(),
                                stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError as e:  # EIO: the terminal's other side is closed
                if e.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        self.assertEqual(proc.wait(60 * SLOW), 0)
        text = out.decode("utf-8", "replace").replace("\r\n", "\n")
        updates = [m for m in PROGRESS.finditer(text)]
        self.assertGreaterEqual(len(updates), 3, text)  # at least two while sending, and the last
        done = [float(m.group(1)) for m in updates]
        self.assertEqual(done, sorted(done), "the bytes done went back")
        total = "%.1f KiB" % (os.path.getsize(log) / 1024)
        for m in updates:
            self.assertEqual("%s %s" % (m.group(3), m.group(4)), total)
        last = updates[-1]
        self.assertEqual("%s %s" % (last.group(1), last.group(2)), total)
        self.assertEqual(last.group(6), "0")
        # each update rewrites the line: it starts with a carriage return, and the last one ends it
        for m in updates:
            self.assertEqual(text[m.start() - 1], "\r")
        rest = text[last.end():].lstrip(" ")
        self.assertRegex(rest, r"^\n\S+ info agent: lines 1000, events 1000, delivered 1000, ")
        self.assertEqual(len(self.standin.events()), 1000)

    def test_without_a_terminal_there_is_no_progress_line(self):
        _, cfg = self.backfill()
        rc, out, err = agentlib.run_agent(["run", "--once", "-c", cfg], env=self.env(), timeout=60 * SLOW)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "")
        self.assertNotIn("\r", err)
        self.assertNotIn("events/s", err)
        self.assertIn("info agent: lines 1000, events 1000, delivered 1000, ", err)


if __name__ == "__main__":
    agentlib.main()
