#!/usr/bin/env python3
"""Delivery through the real binary against the stand-in: backfill, follow mode, every response
path of onside-api.md, restarts, kill -9, signals (backpressure: test_backpressure.py)."""
import json
import os
import signal
import time

import agentlib
from agentlib import append_lines, deadletters, expected_pos_ids, purchase_lines, run_agent, wait_for


def checkpoint(state):
    with open(os.path.join(state, "checkpoint.json")) as f:
        return json.load(f)


class Delivery(agentlib.AgentTestCase):
    def once(self, cfg, timeout=120):
        rc, out, err = run_agent(["run", "--once", "-c", cfg], env=self.env(), timeout=timeout)
        self.assertEqual(rc, 0, err)
        return err

    def test_backfill_once_delivers_every_line_once_with_derived_ids(self):
        log = self.write_log(purchase_lines(2500, seed=1))
        cfg = self.config(paths=[log])
        self.once(cfg)
        ids = self.standin.event_ids()
        # each exactly once; the three requests may arrive in any order (max_in_flight: auto may have
        # two in flight once the first has answered)
        self.assertEqual(sorted(ids), sorted(expected_pos_ids(log)))
        stats = self.standin.stats()
        self.assertEqual(stats["accepted_requests"], 3)  # 1000 + 1000 + 500
        cp = checkpoint(self.path("state"))
        self.assertEqual(cp["version"], 1)
        self.assertEqual(cp["files"][0]["offset"], os.path.getsize(log))
        # a second run sends nothing
        self.once(cfg)
        self.assertEqual(len(self.standin.event_ids()), 2500)

    def test_events_are_exactly_as_mapped(self):
        line = ('{"ts":"2026-05-05T14:00:00.25+02:00","event":"Purchase_Completed","install_id":'
                '"550e8400-e29b-41d4-a716-446655440000","order_id":"A-1","currency":"USD","amount":9.99}')
        log = self.write_log([line])
        cfg = self.config(paths=[log])
        self.once(cfg)
        ev = self.standin.events()
        self.assertEqual(ev, [{
            "event_name": "Purchase_Completed",
            "payload": {"order_id": "A-1", "currency": "USD", "amount": 9.99},
            "event_datetime": "2026-05-05T12:00:00.25Z",
            "event_id": expected_pos_ids(log)[0],
            "installation_id": "550e8400-e29b-41d4-a716-446655440000"}])

    def test_follow_mode_appends_and_partial_lines(self):
        log = self.write_log(purchase_lines(3, seed=2))
        marker = self.write_log(purchase_lines(1, seed=21, start=100), name="marker.log")
        cfg = self.config(paths=[log, marker])
        proc = self.start_agent(["run", "-c", cfg])
        self.standin.wait_events(4)
        lines = list(purchase_lines(5, seed=3, start=4))
        append_lines(log, lines[:2])
        self.standin.wait_events(6)
        # a line without its LF is not read until the LF arrives, even one that would parse as it is
        with open(log, "ab") as f:
            f.write(lines[2].encode())
        # a line written after it to another file arrives: the agent has looked at the first file since
        append_lines(marker, purchase_lines(1, seed=22, start=101))
        self.standin.wait_events(7)
        with open(log, "rb") as f:
            partial_id = expected_pos_ids(f.read() + b"\n")[-1]
        self.assertNotIn(partial_id, self.standin.event_ids(), "a line was sent before its LF")
        self.assertEqual(deadletters(self.path("state")), [])
        with open(log, "ab") as f:
            f.write(b"\n")
        self.standin.wait_events(8)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        self.assertEqual(sorted(self.standin.event_ids()), sorted(expected_pos_ids(log) + expected_pos_ids(marker)))
        self.assertEqual(self.standin.event_ids()[-1], partial_id)
        offsets = {e["path"]: e["offset"] for e in checkpoint(self.path("state"))["files"]}
        self.assertEqual(offsets, {log: os.path.getsize(log), marker: os.path.getsize(marker)})

    def test_new_file_matching_the_glob_is_followed(self):
        os.mkdir(self.path("logs"))
        first = os.path.join(self.path("logs"), "a.purchases.log")
        append_lines(first, purchase_lines(2, seed=4))
        cfg = self.config(paths=[os.path.join(self.path("logs"), "*.purchases.log")])
        proc = self.start_agent(["run", "-c", cfg])
        self.standin.wait_events(2)
        second = os.path.join(self.path("logs"), "b.purchases.log")
        append_lines(second, purchase_lines(3, seed=5))
        self.standin.wait_events(5)
        append_lines(second, purchase_lines(1, seed=6, start=10))
        self.standin.wait_events(6)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        self.assertEqual(sorted(self.standin.event_ids()),
                         sorted(expected_pos_ids(first) + expected_pos_ids(second)))

    def test_5xx_then_success_retries_and_loses_nothing(self):
        self.standin.control(status_script=[503, 500, 502])
        log = self.write_log(purchase_lines(10, seed=7))
        cfg = self.config(paths=[log])
        self.once(cfg)
        self.assertEqual(self.standin.event_ids(), expected_pos_ids(log))
        self.assertEqual(self.standin.stats()["by_status"].get("503"), 1)

    def test_429_honours_retry_after(self):
        self.standin.control(status_script=[429, 429], retry_after=1)
        log = self.write_log(purchase_lines(5, seed=8))
        cfg = self.config(paths=[log])  # retry.initial_backoff 50ms, max_backoff 1s
        self.once(cfg)
        self.assertEqual(self.standin.event_ids(), expected_pos_ids(log))
        reqs = self.standin.api_requests()
        self.assertEqual([r["status"] for r in reqs], [429, 429, 204])
        # the server's second each time: not the 50ms backoff, nor a backoff grown from it
        slack = 0.3 * (10 if os.environ.get("ONSIDE_AGENT_WRAPPER") else 1)
        for a, b in zip(reqs, reqs[1:]):
            self.assertGreaterEqual(b["time"] - a["time"], 0.98, reqs)
            self.assertLess(b["time"] - a["time"], 1.0 + slack, reqs)

    def test_400_isolates_the_rejected_event(self):
        log = self.write_log(purchase_lines(20, seed=9))
        ids = expected_pos_ids(log)
        self.standin.control(reject_ids=[ids[7], ids[13]])
        cfg = self.config(paths=[log])
        self.once(cfg)
        got = self.standin.event_ids()
        self.assertEqual(sorted(got), sorted(i for k, i in enumerate(ids) if k not in (7, 13)))
        dl = deadletters(self.path("state"))
        self.assertEqual(len(dl), 2)
        with open(log, "rb") as f:
            lines = f.read().split(b"\n")
        for entry, k in zip(sorted(dl, key=lambda e: e["offset"]), (7, 13)):
            self.assertEqual(entry["status"], 400)
            self.assertEqual(entry["line"], lines[k].decode())
            self.assertIn(ids[k], entry["response"])
            self.assertEqual(entry["input"], "purchases")
            self.assertEqual(entry["path"], log)
        self.assertEqual(checkpoint(self.path("state"))["files"][0]["offset"], os.path.getsize(log))

    def test_413_splits_the_batch(self):
        self.standin.control(status_script=[413, 413])
        log = self.write_log(purchase_lines(40, seed=10))
        cfg = self.config(paths=[log])
        self.once(cfg)
        self.assertEqual(sorted(self.standin.event_ids()), sorted(expected_pos_ids(log)))
        # 40 -> 413; 20 + 20, the first of them 413; 10 + 10 + 20 accepted
        stats = self.standin.stats()
        self.assertEqual((stats["requests"], stats["by_status"].get("413"), stats["accepted_requests"]), (5, 2, 3))

    def test_wrong_credentials_are_logged_once_and_reload_fixes_them(self):
        pw = self.path("password")
        with open(pw, "w") as f:
            f.write("wrong-password\n")
        os.chmod(pw, 0o600)
        log = self.write_log(purchase_lines(3, seed=11))
        cfg = self.config(paths=[log], endpoint={"password_env": None, "password_file": pw})
        proc = self.start_agent(["run", "-c", cfg])
        wait_for(lambda: self.standin.stats()["requests"] >= 3, timeout=15, message="3 refused requests")
        self.assertEqual(self.standin.events(), [])
        err = agentlib.agent_stderr(proc)
        self.assertEqual(err.count("credentials"), 1, err)
        self.assertNotIn("wrong-password", err)
        with open(pw, "w") as f:
            f.write(agentlib.TEST_PASSWORD + "\n")
        proc.send_signal(signal.SIGHUP)
        self.standin.wait_events(3, timeout=15)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        self.assertEqual(self.standin.event_ids(), expected_pos_ids(log))
        self.assertNotIn(agentlib.TEST_PASSWORD, agentlib.agent_stderr(proc))

    def test_restart_resumes_without_resending(self):
        log = self.write_log(purchase_lines(50, seed=12))
        cfg = self.config(paths=[log])
        proc = self.start_agent(["run", "-c", cfg])
        self.standin.wait_events(50)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        append_lines(log, purchase_lines(30, seed=13, start=51))
        proc = self.start_agent(["run", "-c", cfg])
        self.standin.wait_events(80)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        self.assertEqual(self.standin.event_ids(), expected_pos_ids(log))

    def test_kill_9_mid_stream_loses_nothing(self):
        log = self.write_log(purchase_lines(5000, seed=14))
        cfg = self.config(paths=[log], batch={"max_events": 100, "flush_interval": "100ms"})
        self.standin.control(slow_seconds=0.05, fault_slow=1.0)
        proc = self.start_agent(["run", "-c", cfg])
        wait_for(lambda: len(self.standin.events()) >= 500, timeout=60, message="some deliveries")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.standin.control(fault_slow=0.0)
        self.once(cfg)
        got = self.standin.event_ids()
        want = expected_pos_ids(log)
        self.assertEqual(set(got), set(want))
        self.assertTrue(set(got) <= set(want))  # nothing invented

    def test_sigterm_finishes_in_flight_and_checkpoints(self):
        log = self.write_log(purchase_lines(200, seed=16))
        cfg = self.config(paths=[log])
        self.standin.control(fault_slow=1.0, slow_seconds=1)
        proc = self.start_agent(["run", "-c", cfg])
        wait_for(lambda: self.standin.stats()["requests"] >= 1, timeout=10, message="a request")
        self.assertEqual(agentlib.stop_agent(proc), 0)
        delivered = len(self.standin.events())
        self.assertGreater(delivered, 0)
        cp = checkpoint(self.path("state"))
        # the checkpoint covers exactly what the server accepted
        offsets = [off for off, _ in agentlib.file_lines(open(log, "rb").read())]
        self.assertEqual(cp["files"][0]["offset"],
                         offsets[delivered] if delivered < len(offsets) else os.path.getsize(log))

    def test_sigusr1_logs_counters(self):
        log = self.write_log(purchase_lines(5, seed=17))
        cfg = self.config(paths=[log])
        proc = self.start_agent(["run", "-c", cfg])
        self.standin.wait_events(5)
        proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: "delivered 5" in agentlib.agent_stderr(proc), timeout=5, message="summary")
        self.assertEqual(agentlib.stop_agent(proc), 0)

    def test_long_line_is_dead_lettered_and_reading_goes_on(self):
        lines = list(purchase_lines(3, seed=18))
        lines.insert(1, "x" * 5000)
        log = self.write_log(lines)
        cfg = self.config(paths=[log], input={"max_line_bytes": "1KiB"})
        self.once(cfg)
        self.assertEqual(len(self.standin.events()), 3)
        dl = deadletters(self.path("state"))
        self.assertEqual(len(dl), 1)
        self.assertEqual(dl[0]["length"], 5000)
        self.assertEqual(dl[0]["line"], "x" * 1024)
        self.assertEqual(dl[0]["offset"], len(lines[0]) + 1)

    def test_out_of_order_completions_never_move_the_checkpoint_past_undelivered_lines(self):
        log = self.write_log(purchase_lines(20000, seed=19))
        cfg = self.config(paths=[log], batch={"max_events": 100, "max_in_flight": 4,
                                              "flush_interval": "100ms"})
        # a third of the requests answer late, so later batches complete before earlier ones
        self.standin.control(fault_slow=0.3, slow_seconds=0.3, seed=5)
        content = open(log, "rb").read()
        ids = expected_pos_ids(content)
        ends = [off + len(line) + 1 for off, line in agentlib.file_lines(content)]
        proc = self.start_agent(["run", "-c", cfg])
        checked = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(self.standin.events()) < len(ids):
            try:  # not written yet; the file is replaced atomically, never seen half-written
                offset = checkpoint(self.path("state"))["files"][0]["offset"]
            except (FileNotFoundError, IndexError):
                time.sleep(0.05)
                continue
            delivered = set(self.standin.event_ids())
            covered = [i for i, end in enumerate(ends) if end <= offset]
            missing = [i for i in covered if ids[i] not in delivered]
            self.assertEqual(missing, [], "checkpoint %d covers undelivered lines" % offset)
            checked += 1
            time.sleep(0.1)
        self.assertGreater(checked, 3)
        self.standin.wait_events(len(ids), timeout=60)
        self.assertGreater(self.standin.stats()["max_in_flight"], 1)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        self.assertEqual(sorted(set(self.standin.event_ids())), sorted(ids))
        self.assertEqual(checkpoint(self.path("state"))["files"][0]["offset"], len(content))

    def test_sigterm_while_the_api_is_down_does_not_wait_for_the_backoff(self):
        self.standin.control(mode="down")
        log = self.write_log(purchase_lines(10, seed=20))
        cfg = self.config(paths=[log], agent={"shutdown_timeout": "20s"},
                          retry={"initial_backoff": "10s", "max_backoff": "10s"})
        proc = self.start_agent(["run", "-c", cfg])
        wait_for(lambda: self.standin.stats()["requests"] >= 1, timeout=10, message="a refused request")
        time.sleep(0.2)
        start = time.monotonic()
        self.assertEqual(agentlib.stop_agent(proc), 0)
        self.assertLess(time.monotonic() - start, 5.0)
        self.assertIn("not delivered", agentlib.agent_stderr(proc))
        self.assertEqual(checkpoint(self.path("state"))["files"][0]["offset"], 0)
        # and the next start delivers them
        self.standin.control(mode="up")
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.standin.event_ids(), expected_pos_ids(log))


if __name__ == "__main__":
    agentlib.main()
