#!/usr/bin/env python3
"""The agent protects its own state, through the real binary: one agent per state directory (a
second `run` exits 1 naming the first, while `status`, `check` and `parse` keep working), a state
directory that other users can write is refused by `run` and `check`, a symlink planted under a
temporary file's name is never written through, temporaries of agents that died are removed at
start (a live process's are kept), and a password file turned into a FIFO cannot hang a reload."""

import errno
import json
import os
import re
import signal
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib  # noqa: E402
from agentlib import append_lines, expected_pos_ids, purchase_lines, run_agent, wait_for  # noqa: E402

NOBODY = 65534


def checkpoint_offsets(state):
    """{path: offset} of checkpoint.json ({} while there is none)."""
    try:
        with open(os.path.join(state, "checkpoint.json")) as f:
            return {e["path"]: e["offset"] for e in json.load(f)["files"]}
    except FileNotFoundError:
        return {}


def dead_pid():
    """The id of a process that has exited (and been reaped)."""
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


class OneAgentPerStateDirectory(agentlib.AgentTestCase):
    def started(self, proc):
        wait_for(lambda: "started:" in agentlib.agent_stderr(proc), timeout=15, message="the agent's start")

    def test_a_second_run_exits_1_naming_the_first_and_the_reading_commands_still_work(self):
        log = self.write_log(purchase_lines(3, seed=1))
        cfg = self.config(paths=[log])
        state = self.path("state")
        first = self.start_agent(["run", "-c", cfg])
        self.started(first)
        self.standin.wait_events(3)
        for args in (["run", "-c", cfg], ["run", "--once", "-c", cfg]):
            rc, _, err = run_agent(args, env=self.env(), timeout=30)
            self.assertEqual(rc, 1, err)
            self.assertIn("error agent: state directory %s is in use by process %d\n" % (state, first.pid), err)
        # `status`, `check` and `parse` take no lock
        wait_for(lambda: checkpoint_offsets(state).get(log) == os.path.getsize(log), timeout=10,
                 message="the checkpoint past the 3 lines")
        rc, out, err = run_agent(["status", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, out + err)
        head, _, rows = agentlib.status_lines(out)
        self.assertTrue(head[0].startswith("agent: running (pid %d) since " % first.pid), out)
        self.assertTrue(rows[0].startswith(log + " "), out)
        rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, out + err)
        rc, out, err = run_agent(["parse", "-c", cfg, log], env=self.env())
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(out.splitlines()), 3)
        # the first agent goes on alone: nothing lost, nothing sent twice
        append_lines(log, purchase_lines(2, seed=2, start=4))
        self.standin.wait_events(5)
        self.assertEqual(agentlib.stop_agent(first), 0)
        self.assertEqual(self.standin.event_ids(), expected_pos_ids(log))

    def test_the_lock_goes_with_the_process_even_after_kill_9(self):
        log = self.write_log(purchase_lines(2, seed=3))
        cfg = self.config(paths=[log])
        first = self.start_agent(["run", "-c", cfg])
        self.started(first)
        self.assertEqual(agentlib.stop_agent(first, signal.SIGKILL), -signal.SIGKILL)
        append_lines(log, purchase_lines(2, seed=4, start=3))
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted(set(self.standin.event_ids())), sorted(expected_pos_ids(log)))


    def test_a_lock_held_by_a_process_that_wrote_no_id_is_still_respected(self):
        # another process holds the flock without a process id in the file (an agent between its flock
        # and its write, or a tool): the state directory is in use all the same
        import fcntl
        log = self.write_log(purchase_lines(2, seed=30))
        cfg = self.config(paths=[log])
        state = self.path("state")
        os.makedirs(state, 0o750, exist_ok=True)
        with open(os.path.join(state, "agent.lock"), "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env(), timeout=30)
            self.assertEqual(rc, 1, err)
            self.assertIn("error agent: state directory %s is in use by another process\n" % state, err)
            self.assertEqual(self.standin.events(), [])
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env(), timeout=30)
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.standin.event_ids(), expected_pos_ids(log))

    def test_a_lock_file_that_is_not_a_regular_file_is_refused(self):
        log = self.write_log(purchase_lines(2, seed=31))
        cfg = self.config(paths=[log])
        state = self.path("state")
        os.makedirs(state, 0o750, exist_ok=True)
        lock = os.path.join(state, "agent.lock")
        # a symlink planted as the lock file is not followed: nothing is created at its target
        target = self.path("planted-target")
        os.symlink(target, lock)
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env(), timeout=30)
        self.assertEqual(rc, 1, err)
        # ELOOP in the agent's C library's words: glibc's, or musl's (the portable build)
        self.assertRegex(err, r"error agent: cannot open the lock file %s: (?:Too many levels of symbolic links|"
                              r"Symbolic link loop)\n" % re.escape(lock))
        self.assertFalse(os.path.lexists(target))
        # a FIFO: refused by `run` without hanging; `status` says it cannot tell whether an agent runs
        os.unlink(lock)
        os.mkfifo(lock, 0o600)
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env(), timeout=30)
        self.assertEqual(rc, 1, err)
        self.assertIn("error agent: the lock file %s is not a regular file\n" % lock, err)
        rc, out, err = run_agent(["status", "-c", cfg], env=self.env(), timeout=30)
        self.assertIn("agent: cannot tell whether it runs (%s: %s); from the checkpoint\n"
                      % (lock, os.strerror(errno.EINVAL)), out, err)
        self.assertEqual(rc, 1, out + err)  # and no checkpoint: unhealthy
        self.assertEqual(self.standin.events(), [])
        self.assertTrue(stat.S_ISFIFO(os.lstat(lock).st_mode))

    def test_a_state_dir_that_is_a_file_is_refused_by_check_and_run(self):
        log = self.write_log(purchase_lines(2, seed=32))
        state = self.path("state-file")
        with open(state, "w") as f:
            f.write("not a directory\n")
        cfg = self.config(paths=[log], state_dir=state)
        rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
        self.assertEqual(rc, 2, out + err)
        self.assertIn("%s: agent.state_dir: cannot open the state directory %s: %s\n"
                      % (cfg, state, os.strerror(errno.ENOTDIR)), err)
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env(), timeout=30)
        self.assertEqual(rc, 1, err)
        self.assertIn(state, err)
        self.assertIn(os.strerror(errno.ENOTDIR), err)
        self.assertEqual(self.standin.events(), [])
        with open(state) as f:
            self.assertEqual(f.read(), "not a directory\n")


class StateDirectoryOwnership(agentlib.AgentTestCase):
    def refused(self, state, why, by_check=True):
        log = self.write_log(purchase_lines(2, seed=5))
        cfg = self.config(paths=[log], state_dir=state)
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 1, err)
        self.assertIn("error agent: %s\n" % why, err)
        self.assertEqual(self.standin.events(), [])
        self.assertEqual(sorted(os.listdir(state)), [])
        rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
        if by_check:
            self.assertEqual(rc, 2, out + err)
            self.assertIn("%s: agent.state_dir: %s\n" % (cfg, why), err)
            self.assertEqual(out, "")
        else:
            self.assertEqual(rc, 0, out + err)

    def test_a_state_directory_writable_by_group_or_others_is_refused(self):
        for mode in (0o777, 0o770, 0o1777, 0o702):
            with self.subTest(mode=oct(mode)):
                state = self.path("state-%o" % mode)
                os.mkdir(state)
                os.chmod(state, mode)
                self.refused(state, "state directory %s is writable by other users (mode %04o); run chmod go-w %s"
                             % (state, mode, state))

    def test_a_state_directory_of_another_user_is_refused(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to give the directory to another user")
        state = self.path("state-nobody")
        os.mkdir(state, 0o750)
        os.chown(state, NOBODY, NOBODY)
        # root's `check` cannot know the service's user (the packaged directory belongs to onside-agent,
        # and administrators run `check` as root): only `run` holds the owner against its own user
        self.refused(state, "state directory %s belongs to uid %d, not to this user (uid 0) or root; run the "
                     "agent as its owner or chown the directory" % (state, NOBODY), by_check=False)

    def test_the_directory_the_agent_creates_is_its_own_and_not_writable_by_others(self):
        log = self.write_log(purchase_lines(1, seed=6))
        state = self.path("new", "state")
        cfg = self.config(paths=[log], state_dir=state)
        os.mkdir(self.path("new"))
        old = os.umask(0)
        try:
            rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        finally:
            os.umask(old)
        self.assertEqual(rc, 0, err)
        self.assertEqual(stat.S_IMODE(os.stat(state).st_mode), 0o750)
        rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, out + err)


class TemporaryFiles(agentlib.AgentTestCase):
    def test_a_symlink_planted_as_a_temporary_file_is_not_written_through(self):
        log = self.write_log(purchase_lines(2, seed=7))
        cfg = self.config(paths=[log])
        state = self.path("state")
        proc = self.start_agent(["run", "-c", cfg])
        self.standin.wait_events(2)
        victims = {}
        for name in ("checkpoint.json", "metrics.prom"):
            victim = self.path("victim-" + name)
            with open(victim, "w") as f:
                f.write("precious %s\n" % name)
            os.symlink(victim, os.path.join(state, "%s.tmp.%d" % (name, proc.pid)))
            victims[name] = victim
        append_lines(log, purchase_lines(3, seed=8, start=3))
        self.standin.wait_events(5)
        # both files are rewritten after the new lines: the checkpoint past them, metrics counting them
        wait_for(lambda: checkpoint_offsets(state).get(log) == os.path.getsize(log), timeout=10,
                 message="the checkpoint past the 5 lines")
        wait_for(lambda: "onside_agent_events_sent_total 5\n" in open(os.path.join(state, "metrics.prom")).read(),
                 timeout=15, message="metrics.prom counting 5 events")
        self.assertEqual(agentlib.stop_agent(proc), 0)
        for name, victim in victims.items():
            with open(victim) as f:
                self.assertEqual(f.read(), "precious %s\n" % name)
            self.assertFalse(os.path.islink(os.path.join(state, name)), name)
            self.assertTrue(stat.S_ISREG(os.lstat(os.path.join(state, name)).st_mode), name)
        self.assertEqual([n for n in os.listdir(state) if ".tmp." in n], [])

    def test_temporaries_of_agents_that_died_are_removed_at_start_and_a_live_processs_kept(self):
        log = self.write_log(purchase_lines(2, seed=9))
        cfg = self.config(paths=[log])
        state = self.path("state")
        os.mkdir(state, 0o750)
        dead, live = dead_pid(), os.getpid()
        names = {
            "checkpoint.json.tmp.%d" % dead: False,   # False: must be gone after the start
            "metrics.prom.tmp.%d" % dead: False,
            "checkpoint.json.tmp.%d" % live: True,    # True: must stay
            "notes.tmp.txt": True,
            "checkpoint.json.tmp.": True,
        }
        for name in names:
            with open(os.path.join(state, name), "w") as f:
                f.write('{"version":1,"files":[]}\n' * 1000)
        os.mkdir(os.path.join(state, "dir.tmp.%d" % dead))
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        self.assertIn("info agent: removed 2 temporary files of agents that are gone from %s (" % state, err)
        present = set(os.listdir(state))
        for name, keep in names.items():
            self.assertEqual(name in present, keep, name)
        self.assertIn("dir.tmp.%d" % dead, present)
        self.assertEqual(len(self.standin.events()), 2)


class PasswordFile(agentlib.AgentTestCase):
    def password_config(self, log, pw):
        with open(pw, "w") as f:
            f.write(agentlib.TEST_PASSWORD + "\n")
        os.chmod(pw, 0o600)
        return self.config(paths=[log], endpoint={"password_env": None, "password_file": pw})

    def test_a_password_file_turned_into_a_fifo_is_refused_on_reload_without_hanging(self):
        log = self.write_log(purchase_lines(2, seed=10))
        pw = self.path("password")
        cfg = self.password_config(log, pw)
        proc = self.start_agent(["run", "-c", cfg])
        self.standin.wait_events(2)
        os.unlink(pw)
        os.mkfifo(pw, 0o600)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in agentlib.agent_stderr(proc), timeout=10, message="the refusal")
        err = agentlib.agent_stderr(proc)
        self.assertIn("endpoint.password_file: %s is not a regular file" % pw, err)
        # still running on the old configuration, and still answering signals
        append_lines(log, purchase_lines(1, seed=11, start=3))
        self.standin.wait_events(3)
        self.assertEqual(agentlib.stop_agent(proc, timeout=10), 0)
        self.assertEqual(self.standin.event_ids(), expected_pos_ids(log))
        self.assertNotIn(agentlib.TEST_PASSWORD, agentlib.agent_stderr(proc))

    def test_a_fifo_as_password_file_or_configuration_fails_at_once(self):
        log = self.write_log(purchase_lines(1, seed=12))
        pw = self.path("password")
        cfg = self.password_config(log, pw)
        os.unlink(pw)
        os.mkfifo(pw, 0o600)
        for cmd in ("check", "run"):
            rc, _, err = run_agent([cmd, "-c", cfg], env=self.env(), timeout=20)
            self.assertEqual(rc, 2, err)
            self.assertIn("endpoint.password_file: %s is not a regular file" % pw, err)
        fifo_cfg = self.path("fifo.yaml")
        os.mkfifo(fifo_cfg, 0o600)
        rc, _, err = run_agent(["check", "-c", fifo_cfg], env=self.env(), timeout=20)
        self.assertEqual(rc, 2, err)
        self.assertIn("%s: the configuration is empty" % fifo_cfg, err)

    def test_a_symlinked_password_file_is_followed(self):
        # secret mounts (Kubernetes' ..data links, /etc/alternatives) are symlinks: a documented choice
        log = self.write_log(purchase_lines(2, seed=13))
        real = self.path("secret-v1")
        cfg = self.password_config(log, real)
        link = self.path("password")
        os.symlink(real, link)
        self.config(paths=[log], endpoint={"password_env": None, "password_file": link})
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(self.standin.events()), 2)


if __name__ == "__main__":
    agentlib.main()
