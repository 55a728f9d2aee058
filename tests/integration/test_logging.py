#!/usr/bin/env python3
"""Logging that fits systemd and log pipelines, and the command line around it, through the real binary.

- Under systemd (JOURNAL_STREAM names stderr's device and inode) each line starts with its syslog
  priority (<3> error, <4> warn, <6> info, <7> debug) and has no timestamp; a JOURNAL_STREAM inherited
  by a process whose stderr goes elsewhere changes nothing.
- agent.log_format: json writes one JSON object per line (time, level, component, message), whatever
  the message holds (control characters and bytes that are not UTF-8 in a file name).
- -v and -vv raise the level from agent.log_level (-q lowers it); debug logs one line per request with
  its answer, events, bytes as sent, and time.
- --version names the build and the libraries it runs with; `help [COMMAND]`; the bash completion the
  packages install completes commands, options and input names.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib  # noqa: E402
from agentlib import expected_pos_ids, purchase_lines  # noqa: E402

PRIORITY = {"error": "<3>", "warn": "<4>", "info": "<6>", "debug": "<7>"}
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (error|warn|info|debug) [a-z]+: ")
JOURNAL_LINE = re.compile(r"^<([3467])>(error|warn|info|debug) [a-z]+: ")
COMPLETION = os.path.join(agentlib.source_dir(), "packaging", "completion", "onside-agent.bash")


def run_with_stderr_file(args, stderr_path, env):
    """Runs the agent with stderr going to stderr_path (a file): returns (rc, stdout, stderr text)."""
    with open(stderr_path, "wb") as err:
        p = subprocess.run(agentlib.agent_command() + list(args), env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=err, timeout=60)
    with open(stderr_path, "rb") as f:
        return p.returncode, p.stdout.decode(), f.read().decode("utf-8", "replace")


def journal_stream(path):
    st = os.stat(path)
    return "%d:%d" % (st.st_dev, st.st_ino)


class Journal(agentlib.AgentTestCase):
    def once(self, cfg, stderr_name, journal_of=None, extra=()):
        """run --once with stderr to a file; JOURNAL_STREAM names journal_of's device and inode (the
        stderr file itself when journal_of is "stderr")."""
        err_path = self.path(stderr_name)
        open(err_path, "wb").close()
        env = self.env()
        if journal_of == "stderr":
            env["JOURNAL_STREAM"] = journal_stream(err_path)
        elif journal_of:
            env["JOURNAL_STREAM"] = journal_stream(journal_of)
        return run_with_stderr_file(["run", "--once", "-c", cfg] + list(extra), err_path, env)

    def test_under_the_journal_each_line_starts_with_its_priority_and_has_no_timestamp(self):
        log = self.write_log(list(purchase_lines(6, seed=1)) + ["not json"])
        cfg = self.config(paths=[log], agent={"log_level": "debug"})
        rc, _, err = self.once(cfg, "journal.stderr", journal_of="stderr")
        self.assertEqual(rc, 0, err)
        lines = err.splitlines()
        levels = set()
        for line in lines:
            m = JOURNAL_LINE.match(line)
            self.assertIsNotNone(m, "a line without its priority:\n%s" % err)
            self.assertEqual("<%s>" % m.group(1), PRIORITY[m.group(2)], line)
            levels.add(m.group(2))
        # a dead-lettered line is a warning, the start info, a request debug: all four but error
        self.assertEqual(levels, {"warn", "info", "debug"}, err)
        self.assertIn("<4>warn map: a line was dead-lettered", err)
        self.assertEqual(len(self.standin.events()), 6)

    def test_an_inherited_journal_stream_that_is_not_stderr_changes_nothing(self):
        # a shell started from a unit keeps JOURNAL_STREAM while its stderr goes to a file
        log = self.write_log(purchase_lines(3, seed=2))
        cfg = self.config(paths=[log])
        other = self.path("not-stderr")
        open(other, "w").close()
        rc, _, err = self.once(cfg, "plain.stderr", journal_of=other)
        self.assertEqual(rc, 0, err)
        self.assertTrue(err.splitlines())
        for line in err.splitlines():
            self.assertRegex(line, TEXT_LINE)
        self.assertNotIn("<6>", err)

    def test_a_malformed_journal_stream_changes_nothing(self):
        log = self.write_log(purchase_lines(3, seed=3))
        cfg = self.config(paths=[log])
        err_path = self.path("malformed.stderr")
        open(err_path, "wb").close()
        env = self.env(JOURNAL_STREAM=journal_stream(err_path) + "x")
        rc, _, err = run_with_stderr_file(["run", "--once", "-c", cfg], err_path, env)
        self.assertEqual(rc, 0, err)
        for line in err.splitlines():
            self.assertRegex(line, TEXT_LINE)


class JsonFormat(agentlib.AgentTestCase):
    def test_json_lines_have_time_level_component_and_the_exact_message(self):
        logs = self.path("logs")
        os.mkdir(logs)
        # the name is part of a log line: an escape, a newline and bytes that are not UTF-8 in it
        name = b"a\x1b[2Kb\nc\xff\xfe.log"
        p = os.path.join(logs.encode(), name)
        agentlib.append_lines(p, list(purchase_lines(2, seed=4)) + ["not json"])
        cfg = self.config(paths=[os.path.join(logs, "*.log")], agent={"log_format": "json", "log_level": "debug"})
        err_path = self.path("json.stderr")
        rc, _, err = run_with_stderr_file(["run", "--once", "-c", cfg], err_path, self.env())
        self.assertEqual(rc, 0, err)
        with open(err_path, "rb") as f:
            raw = f.read()
        records = []
        for line in raw.split(b"\n")[:-1]:
            rec = json.loads(line.decode("utf-8"))  # every line is one strict JSON object
            self.assertEqual(list(rec), ["time", "level", "component", "message"], line)
            self.assertRegex(rec["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertIn(rec["level"], ("error", "warn", "info", "debug"))
            records.append(rec)
        following = [r for r in records if r["component"] == "tail" and r["message"].startswith("following ")]
        self.assertEqual(len(following), 1, records)
        # the file name comes back byte for byte (bytes that are not UTF-8 as lone surrogates, \udcXX,
        # which is how Python names them too)
        self.assertEqual(following[0]["message"], "following %s (input purchases) from offset 0" % os.fsdecode(p))
        warn = [r for r in records if r["level"] == "warn" and r["component"] == "map"]
        self.assertTrue(warn and warn[0]["message"].startswith("a line was dead-lettered"), records)
        self.assertEqual(sorted(self.standin.event_ids()), sorted(expected_pos_ids(os.fsdecode(p))[:2]))

    def test_json_under_the_journal_keeps_the_priority_prefix(self):
        log = self.write_log(purchase_lines(2, seed=5))
        cfg = self.config(paths=[log], agent={"log_format": "json"})
        err_path = self.path("jj.stderr")
        open(err_path, "wb").close()
        env = self.env(JOURNAL_STREAM=journal_stream(err_path))
        rc, _, err = run_with_stderr_file(["run", "--once", "-c", cfg], err_path, env)
        self.assertEqual(rc, 0, err)
        for line in err.splitlines():
            m = re.match(r"^<(\d)>(\{.*\})$", line)
            self.assertIsNotNone(m, line)
            self.assertEqual("<%s>" % m.group(1), PRIORITY[json.loads(m.group(2))["level"]])

    def test_an_unknown_log_format_is_a_configuration_error(self):
        cfg = self.config(paths=[self.path("x.log")], agent={"log_format": "xml"})
        rc, out, err = agentlib.run_agent(["check", "-c", cfg], env=self.env())
        self.assertEqual(rc, 2)
        self.assertRegex(err, r'%s:\d+:\d+: agent.log_format: must be one of text, json, got "xml"'
                         % re.escape(cfg))


class Verbosity(agentlib.AgentTestCase):
    def levels(self, args, log_level):
        log = self.path("v%d.log" % len(os.listdir(self.tmp)))
        agentlib.append_lines(log, purchase_lines(3, seed=6))
        cfg = self.config(name="v.yaml", paths=[log], state_dir=self.path("state-%s" % os.path.basename(log)),
                          agent={"log_level": log_level})
        rc, _, err = agentlib.run_agent(["run", "--once", "-c", cfg] + args, env=self.env())
        self.assertEqual(rc, 0, err)
        return {m.group(1) for m in map(TEXT_LINE.match, err.splitlines()) if m}

    def test_vv_raises_the_level_by_two_and_v_by_one(self):
        # (a warning may come or not: "running as root" is one when the tests run as root)
        self.assertEqual(self.levels([], "warn") - {"warn"}, set())
        self.assertEqual(self.levels(["-v"], "warn") - {"warn"}, {"info"})
        self.assertEqual(self.levels(["-vv"], "warn") - {"warn"}, {"info", "debug"})
        self.assertEqual(self.levels(["-v", "-v"], "warn") - {"warn"}, {"info", "debug"})
        self.assertEqual(self.levels(["--verbose", "--verbose"], "warn") - {"warn"}, {"info", "debug"})
        self.assertEqual(self.levels(["-qq"], "info"), set())

    def test_vq_mixed_is_a_usage_error(self):
        rc, out, err = agentlib.run_agent(["run", "-vq"], env=self.env())
        self.assertEqual(rc, 2)
        self.assertIn("-vq", err)

    def test_debug_logs_each_request_with_its_answer_events_bytes_and_time(self):
        log = self.write_log(purchase_lines(25, seed=7))
        cfg = self.config(paths=[log], batch={"max_events": 10, "flush_interval": "100ms", "max_in_flight": 1})
        rc, _, err = agentlib.run_agent(["run", "--once", "-vv", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        logged = [(int(m.group(1)), int(m.group(2)), int(m.group(3)))
                  for m in re.finditer(r"debug sender: request: HTTP (\d+), (\d+) events, (\d+) bytes, "
                                       r"\d+\.\d ms\n", err)]
        served = [(int(m.group(1)), int(m.group(2)), int(m.group(3)))
                  for m in re.finditer(r"status=(\d+) events=(\d+) bytes=(\d+)", self.standin.log())]
        self.assertEqual(logged, served, err)
        self.assertEqual([n for _, n, _ in logged], [10, 10, 5])

    def test_a_refused_connection_is_a_request_line_too(self):
        log = self.write_log(purchase_lines(2, seed=8))
        self.standin.stop()
        cfg = self.config(paths=[log], retry={"initial_backoff": "50ms", "max_backoff": "50ms"},
                          agent={"shutdown_timeout": "1s"})
        proc = self.start_agent(["run", "-vv", "-c", cfg])
        agentlib.wait_for(lambda: "debug sender: request: " in agentlib.agent_stderr(proc), timeout=20,
                          message="a request line")
        agentlib.stop_agent(proc)
        err = agentlib.agent_stderr(proc)
        self.assertRegex(err, r"debug sender: request: [^\n]*(refused|connect)[^\n]*, 2 events, \d+ bytes, "
                              r"\d+\.\d ms\n")


class VersionAndHelp(agentlib.AgentTestCase):
    def test_version_names_the_build_and_the_libraries_it_runs_with(self):
        rc, out, err = agentlib.run_agent(["--version"])
        self.assertEqual((rc, err), (0, ""))
        lines = out.splitlines()
        self.assertEqual(len(lines), 3, out)
        self.assertRegex(lines[0], r"^onside-agent \d+\.\d+\.\d+$")
        self.assertRegex(lines[1], r"^commit ([0-9a-f]{12}(-dirty)?|unknown), built \d{4}-\d\d-\d\d$")
        m = re.match(r"^libcurl (\S+) \(([^)]*)\), OpenSSL (\S+), json-c (\S+), libyaml (\S+), PCRE2 (\S+), "
                     r"zlib (\S+)$", lines[2])
        self.assertIsNotNone(m, lines[2])
        if agentlib.statically_linked():
            return  # the portable build carries its own libraries
        # a native build runs with the system's: the versions pkg-config reports
        for pc, got in (("libcurl", m.group(1)), ("json-c", m.group(4)), ("yaml-0.1", m.group(5)),
                        ("libpcre2-8", m.group(6)), ("zlib", m.group(7))):
            try:
                want = subprocess.run(["pkg-config", "--modversion", pc], stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, check=True).stdout.decode().strip()
            except (OSError, subprocess.CalledProcessError):
                continue
            self.assertEqual(got, want, pc)

    def test_help_of_an_unknown_command_is_a_usage_error(self):
        rc, out, err = agentlib.run_agent(["help", "frobnicate"])
        self.assertEqual((rc, out), (2, ""))
        self.assertIn("no such command: frobnicate", err)

    def test_help_without_a_command_is_the_usage_of_every_command(self):
        rc, out, err = agentlib.run_agent(["help"])
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(agentlib.run_agent(["--help"]), (0, out, ""))
        for cmd in ("run", "check", "parse", "status", "replay", "help"):
            self.assertIn("onside-agent %s" % ("[run]" if cmd == "run" else cmd), out)


class Completion(agentlib.AgentTestCase):
    def complete(self, line, cfg=None):
        """COMPREPLY for the command line `line` (the word being completed is its last, possibly "")."""
        if shutil.which("bash") is None:
            self.skipTest("bash is not installed")
        words = line.split(" ")
        script = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _onside_agent; '
                  'printf "%s\\n" "${COMPREPLY[@]}"')
        p = subprocess.run(["bash", "-c", script, "bash", COMPLETION] + words, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, cwd=self.tmp, timeout=20)
        self.assertEqual(p.stderr, b"")
        return sorted(w for w in p.stdout.decode().split("\n") if w)

    def test_commands_and_their_options_complete(self):
        self.assertEqual(self.complete("onside-agent "),
                         sorted(["run", "check", "parse", "status", "replay", "help", "-c", "--config", "--once",
                                 "-v", "-q", "--version", "--help"]))
        self.assertEqual(self.complete("onside-agent re"), ["replay"])
        self.assertEqual(self.complete("onside-agent check --c"), ["--config", "--connect"])
        self.assertEqual(self.complete("onside-agent replay --"),
                         ["--config", "--dry-run", "--help", "--input", "--reason"])
        self.assertEqual(self.complete("onside-agent help s"), ["status"])

    def test_input_names_come_from_the_configuration_on_the_line(self):
        cfg = self.config(paths=[self.path("a.log")],
                          inputs=[agentlib.default_input([self.path("a.log")], name="shop.web"),
                                  agentlib.default_input([self.path("b.log")], name="shop-api")])
        self.assertEqual(self.complete("onside-agent replay -c %s --input " % cfg), ["shop-api", "shop.web"])
        self.assertEqual(self.complete("onside-agent parse --config=%s --input shop." % cfg), ["shop.web"])


if __name__ == "__main__":
    agentlib.main()
