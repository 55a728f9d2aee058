#!/usr/bin/env python3
"""The operator sees what the agent sees, through the real binary.

- Trouble on the data path is told in the log, each kind at most once per period (a minute;
  ONSIDE_TEST_NOTICE_MS shortens it here): the first at once, then one summary with counts by
  reason: lines dead-lettered (with the dead-letter file), events the server rejected, matching files
  that cannot be opened (repeated while it lasts, and in `status`), globs that match nothing (at start
  and in `check`), a long outage.
- `status` and metrics.prom tell the same, live truth: during an outage the lag grows in both, the
  failure (since when, how many in a row, last error, next retry) is in both; `status` says whether
  the agent runs; the last delivery survives a restart with nothing new; rotated files stay out of
  the way; --max-lag and --max-failing make it a monitoring check.
- Answers that waiting will not change (401/403/404/405) end `run --once` after three in a row, with
  exit 1, the cause and the fix, and nothing lost; the daemon keeps retrying and tells them as errors,
  rate-limited.
"""

import calendar
import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib  # noqa: E402
from agentlib import (append_lines, deadletters, expected_pos_ids, purchase_lines, run_agent,  # noqa: E402
                      status_lines, wait_for)

WRAPPED = bool(os.environ.get("ONSIDE_AGENT_WRAPPER"))
SLOW = 3 if WRAPPED or agentlib.sanitized() else 1


def log_lines(text, level, comp):
    """The messages of the log lines of level and component, in order, with their times (or None)."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ )?%s %s: (.*)$" % (level, comp), line)
        if m:
            t = calendar.timegm(time.strptime(m.group(1).strip(), "%Y-%m-%dT%H:%M:%SZ")) if m.group(1) else None
            out.append((t, m.group(2)))
    return out


metrics = agentlib.metrics


def when(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) if t else "never"


def bad_lines(n):
    """n lines that cannot become events: 3 in 5 are not JSON, 2 in 5 lack the time field."""
    iid = "8e0c4a3e-1c1a-4b1e-9d7e-2f3c2b1a0d9e"
    return ["not json %d" % i if i % 5 < 3 else json.dumps({"event": "purchase", "install_id": iid, "n": i})
            for i in range(n)]


class DataPathTroubleIsTold(agentlib.AgentTestCase):
    def test_5000_dead_lettered_lines_make_two_log_lines_with_counts_by_reason(self):
        log = self.write_log(bad_lines(5000))
        cfg = self.config(paths=[log])
        state = self.path("state")
        dl = os.path.join(state, "dead-letter.jsonl")
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env(), timeout=120)
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(deadletters(state)), 5000)
        told = [m for _, m in log_lines(err, "warn", "map")]
        self.assertEqual(len(told), 2, err)
        self.assertEqual(told[0], "a line was dead-lettered (parse error: invalid JSON at byte 1: null expected) at "
                                  "offset 0 of %s -> %s; further ones are summarised every 60 s" % (log, dl))
        self.assertRegex(told[1], r"^4,999 lines dead-lettered in the last \d+ s \(parse error: invalid JSON: null "
                                  r"expected: 2,999, missing field ts: 2,000\) -> %s$" % re.escape(dl))

    def test_while_following_a_kind_is_told_at_most_once_a_period_and_every_line_counts(self):
        log = self.write_log([])
        cfg = self.config(paths=[log])
        state = self.path("state")
        proc = self.start_agent(["run", "-c", cfg], env=self.env(ONSIDE_TEST_NOTICE_MS="1000"))
        wait_for(lambda: "started:" in agentlib.agent_stderr(proc), timeout=15 * SLOW, message="the start")

        def counted():
            total = 0
            for _, m in log_lines(agentlib.agent_stderr(proc), "warn", "map"):
                n = re.match(r"^([\d,]+) lines? dead-lettered in the last \d+ s \(", m)
                total += int(n.group(1).replace(",", "")) if n else 1 if m.startswith("a line was") else 0
            return total

        sent = 0
        for burst in (300, 200, 400):
            append_lines(log, bad_lines(burst))
            sent += burst
            wait_for(lambda: counted() == sent, timeout=15 * SLOW, message="%d lines told" % sent)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        self.assertEqual(len(deadletters(state)), sent)
        told = log_lines(agentlib.agent_stderr(proc), "warn", "map")
        self.assertEqual(counted(), sent)  # nothing more at exit: nothing was left to tell
        self.assertTrue(told[0][1].startswith("a line was dead-lettered (parse error: invalid JSON at byte 1: "
                                              "null expected) at offset 0 of %s -> " % log), told[0][1])
        for (t1, _), (t2, m) in zip(told, told[1:]):
            self.assertGreaterEqual(t2 - t1, 1, "two lines of a kind within a period: %s" % m)

    def test_server_rejections_are_told_with_the_dead_letter_file(self):
        log = self.write_log(purchase_lines(10, seed=3))
        ids = expected_pos_ids(log)
        self.standin.control(reject_ids=[ids[2], ids[5], ids[7]])
        cfg = self.config(paths=[log])
        dl = os.path.join(self.path("state"), "dead-letter.jsonl")
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(deadletters(self.path("state"))), 3)
        told = [m for _, m in log_lines(err, "warn", "sender")]
        self.assertEqual(len(told), 2, err)
        # the first event rejected alone, whichever of the three the splitting isolated first
        with open(log, "rb") as f:
            offsets = [o for o, _ in agentlib.file_lines(f.read())]
        self.assertIn(told[0], [
            'an event was rejected by the server (HTTP 400: "{"error":"events[0].event_id %s is rejected by the '
            'server","index":0}") at offset %d of %s -> %s; further ones are summarised every 60 s'
            % (ids[offsets.index(r["offset"])], r["offset"], log, dl) for r in deadletters(self.path("state"))])
        self.assertRegex(told[1], r"^2 events rejected by the server in the last \d+ s \(HTTP 400: 2\) -> %s$"
                         % re.escape(dl))


class FilesThatCannotBeRead(agentlib.AgentTestCase):
    def test_a_matching_file_that_cannot_be_opened_is_told_while_it_lasts_and_shown_in_status(self):
        logs = self.path("logs")
        os.mkdir(logs)
        good = os.path.join(logs, "a.log")
        append_lines(good, purchase_lines(3, seed=1))
        bad = os.path.join(logs, "b.log")
        os.symlink("b.log", bad)  # a loop: ELOOP whoever opens it, root included
        cfg = self.config(paths=[os.path.join(logs, "*.log")])
        state = self.path("state")
        proc = self.start_agent(["run", "-c", cfg], env=self.env(ONSIDE_TEST_NOTICE_MS="1000"))
        self.standin.wait_events(3, timeout=15 * SLOW)
        err = wait_for(lambda: (lambda e: e if len(log_lines(e, "warn", "tail")) >= 3 else None)(
            agentlib.agent_stderr(proc)), timeout=15 * SLOW, message="two reminders")
        told = [m for _, m in log_lines(err, "warn", "tail")]
        # ELOOP in the C library's words: glibc's and musl's (the portable build) differ
        eloop = "(?:Too many levels of symbolic links|Symbolic link loop)"
        self.assertRegex(told[0], r"^cannot open %s \(input purchases\): %s; trying again every 1 s "
                                  r"\(onside-agent status lists it\)$" % (re.escape(bad), eloop))
        for m in told[1:3]:
            self.assertRegex(m, r"^1 matching file still cannot be opened \(%s: 1\): %s \(for \d+s\)$"
                             % (eloop, re.escape(bad)))
        wait_for(lambda: metrics(state).get("onside_agent_unreadable_files") == 1, timeout=15 * SLOW,
                 message="the metric")
        rc, out = wait_for(lambda: (lambda r: r[:2] if "cannot open" in r[1] else None)(
            run_agent(["status", "-c", cfg], env=self.env())), timeout=15 * SLOW, message="status showing it")
        self.assertEqual(rc, 1, out)
        row = [r for r in status_lines(out)[2] if r.startswith(bad + " ")]
        self.assertEqual(len(row), 1, out)
        self.assertRegex(row[0].split(None, 6)[6], r"^cannot open: (?:Too many levels of symbolic links|Symbolic link loop) \(since "
                                                   r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)$")
        # it becomes a file: followed, delivered, and no longer in status
        os.unlink(bad)
        append_lines(bad, purchase_lines(2, seed=2, start=4))
        self.standin.wait_events(5, timeout=15 * SLOW)
        wait_for(lambda: metrics(state).get("onside_agent_unreadable_files") == 0, timeout=15 * SLOW,
                 message="the metric back to 0")
        rc, out = wait_for(lambda: (lambda r: r[:2] if "cannot open" not in r[1] else None)(
            run_agent(["status", "-c", cfg], env=self.env())), timeout=15 * SLOW, message="status without it")
        self.assertEqual(rc, 0, out)
        self.assertEqual([r.split()[0] for r in status_lines(out)[2]], [good, bad])
        self.assertEqual(agentlib.stop_agent(proc), 0)
        self.assertEqual(sorted(self.standin.event_ids()), sorted(expected_pos_ids(good) + expected_pos_ids(bad)))

    def test_globs_that_match_nothing_are_warned_at_start_and_by_check(self):
        log = self.write_log(purchase_lines(2, seed=4))
        none = self.path("nowhere", "*.log")
        cfg = self.config(paths=[log, none])
        rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        self.assertEqual(err, '%s: inputs[0].paths[1]: "%s" matches no file now (run follows files that appear)\n'
                         % (cfg, none))
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        self.assertIn([m for _, m in log_lines(err, "warn", "tail")],
                      [['input purchases: "%s" matches no file: nothing to read there' % none]])
        proc = self.start_agent(["run", "-c", cfg])
        wait_for(lambda: "started:" in agentlib.agent_stderr(proc), timeout=15 * SLOW, message="the start")
        self.assertIn('warn tail: input purchases: "%s" matches no file yet; it is watched, and a file that '
                      'appears is followed\n' % none, agentlib.agent_stderr(proc))
        self.assertEqual(agentlib.stop_agent(proc), 0)


class StatusAndMetricsTellTheSameTruth(agentlib.AgentTestCase):
    def snapshot(self, cfg, state, *args):
        """status output and the metrics it was written with (the agent rewrites both together: the
        metrics are read before and after status, until no rewrite fell between)."""
        def one():
            before = metrics(state)
            rc, out, err = run_agent(["status", "-c", cfg] + list(args), env=self.env())
            return (rc, out, err, before) if metrics(state) == before else None
        return wait_for(one, timeout=20 * SLOW, message="a status between two metrics writes")

    def test_during_an_outage_both_show_the_lag_growing_and_the_failure(self):
        self.standin.control(mode="down")
        log = self.write_log(purchase_lines(10, seed=5))
        cfg = self.config(paths=[log])
        state = self.path("state")
        lag = 'onside_agent_file_lag_bytes{path="%s"}' % log
        proc = self.start_agent(["run", "-c", cfg])
        wait_for(lambda: os.path.exists(os.path.join(state, "metrics.prom")) and
                 metrics(state).get(lag) == os.path.getsize(log) and
                 metrics(state)["onside_agent_delivery_consecutive_failures"] >= 1, timeout=20 * SLOW,
                 message="the first lag and failure")
        # the file grows while nothing is delivered: the lag follows, in both
        size = append_lines(log, purchase_lines(10, seed=6, start=11))
        wait_for(lambda: metrics(state).get(lag) == size, timeout=20 * SLOW, message="the lag grown to %d" % size)
        rc, out, err, m = self.snapshot(cfg, state)
        self.assertEqual(rc, 1, out + err)  # an error shown: unhealthy
        head, _, rows = status_lines(out)
        self.assertTrue(head[0].startswith("agent: running (pid %d) since " % proc.pid), out)
        failures = int(m["onside_agent_delivery_consecutive_failures"])
        since = m["onside_agent_delivery_failing_since_timestamp_seconds"]
        self.assertGreater(since, 0)
        self.assertRegex(head[1], r"^delivery: failing since %s \(for \d+s\): %d failed attempts? in a row, last "
                                  r"error: HTTP 503, %s bytes behind, next retry (in \d+s|now)$"
                         % (when(since), failures, "{:,}".format(size)))
        self.assertEqual(m['onside_agent_last_error_info{error="HTTP 503",status="503"}'], 1)
        self.assertGreaterEqual(m["onside_agent_delivery_next_retry_timestamp_seconds"], since)
        self.assertEqual(len(rows), 1, out)
        cols = rows[0].split()
        self.assertEqual(cols[:4], [log, "0", str(size), str(size)])
        self.assertEqual(cols[-3:], ["never", "HTTP", "503"])
        self.assertRegex(cols[4], r"^\d+s$")  # the oldest line waits since it was read
        self.assertGreater(m['onside_agent_file_oldest_undelivered_timestamp_seconds{path="%s"}' % log], 0)
        # as a monitoring check
        rc, _, err, _ = self.snapshot(cfg, state, "--max-lag", "1MiB", "--max-failing", "1h")
        self.assertEqual((rc, err), (0, ""))
        rc, _, err, _ = self.snapshot(cfg, state, "--max-lag", "100")
        self.assertEqual((rc, err), (1, "onside-agent: %s lags %d bytes, more than --max-lag 100\n" % (log, size)))
        rc, _, err, _ = self.snapshot(cfg, state, "--max-failing", "1s")
        self.assertEqual(rc, 1)
        self.assertRegex(err, r"^onside-agent: delivery has been failing for \d+s, longer than --max-failing 1s\n$")
        # the API is back: everything delivered, and both say so
        self.standin.control(mode="up")
        self.standin.wait_events(20, timeout=20 * SLOW)
        wait_for(lambda: metrics(state).get(lag) == 0 and
                 metrics(state)["onside_agent_delivery_failing_since_timestamp_seconds"] == 0, timeout=20 * SLOW,
                 message="the lag back to 0")
        rc, out, err, m = self.snapshot(cfg, state, "--max-lag", "0", "--max-failing", "1s")
        self.assertEqual((rc, err), (0, ""), out)
        head, _, rows = status_lines(out)
        self.assertEqual(head[1], "delivery: ok, last delivery %s"
                         % when(m["onside_agent_last_delivery_timestamp_seconds"]))
        self.assertEqual(rows[0].split()[:5], [log, str(size), str(size), "0", "-"])
        self.assertEqual(m["onside_agent_delivery_consecutive_failures"], 0)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        rc, out, _ = run_agent(["status", "-c", cfg], env=self.env())
        self.assertEqual((rc, status_lines(out)[0]), (0, ["agent: not running; from the checkpoint"]), out)

    def test_the_last_delivery_survives_a_restart_with_nothing_new(self):
        log = self.write_log(purchase_lines(5, seed=7))
        cfg = self.config(paths=[log])
        state = self.path("state")
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        first = metrics(state)["onside_agent_last_delivery_timestamp_seconds"]
        self.assertGreater(first, 0)
        rc, out, _ = run_agent(["status", "-c", cfg], env=self.env())
        self.assertEqual(status_lines(out)[2][0].split()[5], when(first))
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        self.assertEqual(metrics(state)["onside_agent_last_delivery_timestamp_seconds"], first)
        rc, out, _ = run_agent(["status", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, out)
        self.assertEqual(status_lines(out)[2][0].split()[5], when(first))

    def test_rotated_files_delivered_stay_out_of_status(self):
        log = self.write_log(purchase_lines(4, seed=8))
        cfg = self.config(paths=[log], input={"rotate_wait": "100ms"})
        state = self.path("state")
        proc = self.start_agent(["run", "-c", cfg])
        self.standin.wait_events(4, timeout=15 * SLOW)
        os.rename(log, log + ".1")
        append_lines(log, purchase_lines(3, seed=9, start=5))
        self.standin.wait_events(7, timeout=15 * SLOW)
        wait_for(lambda: "rotated file done" in agentlib.agent_stderr(proc), timeout=15 * SLOW,
                 message="the rotated file closed")
        self.assertEqual(agentlib.stop_agent(proc), 0)
        rc, out, _ = run_agent(["status", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, out)
        _, _, rows = status_lines(out)
        size = os.path.getsize(log)
        self.assertEqual([r.split()[:4] for r in rows], [[log, str(size), str(size), "0"]])
        self.assertNotIn("(rotated)", out.replace("(1 rotated file delivered to its end not shown)", ""))
        self.assertTrue(out.endswith("(1 rotated file delivered to its end not shown)\n"), out)
        with open(os.path.join(state, "checkpoint.json")) as f:
            self.assertEqual(len(json.load(f)["files"]), 2)  # the checkpoint keeps both

    def test_status_limits_must_be_a_size_and_a_duration(self):
        cfg = self.config(paths=[self.path("a.log")])
        for args, why in (
                (["--max-lag", "lots"], "--max-lag takes a size in bytes (such as 1048576 or 1MiB), got: lots"),
                (["--max-failing", "300"], "--max-failing takes a duration (such as 90s, 10m or 1h), got: 300"),
                (["--max-lag"], "missing value for: --max-lag")):
            rc, out, err = run_agent(["status", "-c", cfg] + args, env=self.env())
            self.assertEqual((rc, out), (2, ""), err)
            self.assertIn("onside-agent: %s\n" % why, err)
        rc, _, err = run_agent(["run", "--once", "--max-lag", "1", "-c", cfg], env=self.env())
        self.assertEqual(rc, 2, err)
        self.assertIn("unknown option: --max-lag", err)

    def test_status_without_a_running_agent_and_with_a_stale_status_file(self):
        log = self.write_log(purchase_lines(2, seed=10))
        cfg = self.config(paths=[log])
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        self.assertTrue(os.path.exists(os.path.join(self.path("state"), "status.json")))
        rc, out, _ = run_agent(["status", "-c", cfg], env=self.env())
        self.assertEqual(status_lines(out)[0], ["agent: not running; from the checkpoint"])


class PermanentFailures(agentlib.AgentTestCase):
    def assert_nothing_lost_after_a_fix(self, cfg, log):
        rc, out, _ = run_agent(["status", "-c", cfg], env=self.env())
        self.assertEqual(status_lines(out)[2][0].split()[:2], [log, "0"], out)  # the checkpoint kept its place
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.standin.event_ids(), expected_pos_ids(log))

    def test_run_once_ends_after_three_401_in_a_row_naming_cause_and_fix(self):
        self.standin.control(status_script=[401] * 5)
        log = self.write_log(purchase_lines(6, seed=11))
        cfg = self.config(paths=[log])
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 1, err)
        self.assertEqual(self.standin.stats()["by_status"], {"401": 3})
        told = [m for _, m in log_lines(err, "error", "sender")]
        cause = 'the API refused the credentials (HTTP 401) for user "%s"' % agentlib.TEST_USER
        fix = "check endpoint.username and the password (endpoint.password_file or endpoint.password_env)"
        self.assertEqual(len(told), 2, err)
        self.assertRegex(told[0], r"^%s: %s; retrying in [\d.]+s; further refusals are summarised every 60 s$"
                         % (re.escape(cause), re.escape(fix)))
        self.assertEqual(told[1], "%s, 3 times in a row: stopping; %s (nothing is lost: the checkpoint keeps its "
                                  "place, and the next run sends what is left)" % (cause, fix))
        self.assertNotIn(agentlib.TEST_PASSWORD, err)
        self.standin.control(status_script=[])
        self.assert_nothing_lost_after_a_fix(cfg, log)

    def test_run_once_ends_after_three_404_in_a_row_naming_the_url(self):
        log = self.write_log(purchase_lines(3, seed=12))
        url = self.standin.base_url + "/wrong/events"
        cfg = self.config(paths=[log], url=url)
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 1, err)
        self.assertEqual(self.standin.stats()["by_status"], {"404": 3})
        self.assertIn("error sender: the API answered HTTP 404 (not found) for %s, 3 times in a row: stopping; "
                      "endpoint.url is wrong: it must be the events endpoint, such as "
                      "https://onside.io/attribution-api/v1/events (nothing is lost" % url, err)
        self.assert_nothing_lost_after_a_fix(self.config(paths=[log]), log)

    def test_the_daemon_keeps_retrying_and_tells_refusals_as_errors_once_a_period(self):
        log = self.write_log(purchase_lines(4, seed=13))
        cfg = self.config(paths=[log])
        self.standin.stop()
        self.standin.password = "another-password"
        self.standin.start()
        proc = self.start_agent(["run", "-c", cfg], env=self.env(ONSIDE_TEST_NOTICE_MS="1000"))
        wait_for(lambda: len(log_lines(agentlib.agent_stderr(proc), "error", "sender")) >= 3, timeout=20 * SLOW,
                 message="the refusal and two summaries")
        self.assertIsNone(proc.poll(), "the daemon gave up")
        told = log_lines(agentlib.agent_stderr(proc), "error", "sender")
        cause = 'the API refused the credentials (HTTP 403) for user "%s"' % agentlib.TEST_USER
        self.assertTrue(told[0][1].startswith(cause + ": check endpoint.username and the password"), told[0][1])
        for t, m in told[1:]:
            self.assertRegex(m, r"^\d+ requests? refused in the last \d+ s \(HTTP 403: \d+\): %s: check "
                                r"endpoint\.username and the password \(endpoint\.password_file or "
                                r"endpoint\.password_env\); still retrying$" % re.escape(cause))
        for (t1, _), (t2, _) in zip(told, told[1:]):
            self.assertGreaterEqual(t2 - t1, 1)
        # the password is fixed on the server's side: delivered, nothing lost
        self.standin.stop()
        self.standin.password = agentlib.TEST_PASSWORD
        self.standin.start()
        self.standin.wait_events(4, timeout=20 * SLOW)
        self.assertEqual(agentlib.stop_agent(proc, signal.SIGTERM), 0)
        self.assertEqual(self.standin.event_ids(), expected_pos_ids(log))


class LongOutage(agentlib.AgentTestCase):
    def test_a_long_outage_is_told_every_few_periods_with_how_far_behind(self):
        self.standin.control(mode="down")
        log = self.write_log(purchase_lines(5, seed=14))
        cfg = self.config(paths=[log])
        proc = self.start_agent(["run", "-c", cfg], env=self.env(ONSIDE_TEST_NOTICE_MS="1000"))
        wait_for(lambda: len([m for _, m in log_lines(agentlib.agent_stderr(proc), "warn", "sender")
                              if m.startswith("delivery still failing")]) >= 2, timeout=40 * SLOW,
                 message="two outage lines")
        told = [(t, m) for t, m in log_lines(agentlib.agent_stderr(proc), "warn", "sender")
                if m.startswith("delivery still failing")]
        for _, m in told:
            self.assertRegex(m, r"^delivery still failing after \d+s: %s bytes behind, (next retry in \d+s|retrying "
                                r"now) \(\d+ failed attempts, last error: HTTP 503\)$"
                             % "{:,}".format(os.path.getsize(log)))
        self.assertGreaterEqual(told[1][0] - told[0][0], 5)  # five periods apart
        self.standin.control(mode="up")
        self.standin.wait_events(5, timeout=20 * SLOW)
        self.assertEqual(agentlib.stop_agent(proc), 0)


if __name__ == "__main__":
    agentlib.main()
