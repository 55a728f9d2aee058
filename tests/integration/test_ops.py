#!/usr/bin/env python3
"""Operations through the real binary: metrics.prom, `status`, reloads with SIGHUP."""
import os
import signal
import time

import agentlib
from agentlib import append_lines, expected_pos_ids, purchase_lines, run_agent, wait_for


metrics = agentlib.metrics


class Ops(agentlib.AgentTestCase):
    def test_metrics_after_a_backfill(self):
        lines = list(purchase_lines(30, seed=1))
        lines[4] = "not json"
        lines[9] = lines[9].replace("purchase_completed", "page_view")
        log = self.write_log(lines)
        cfg = self.config(paths=[log], input={"match": {"event": "^purchase_"}})
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        m = metrics(self.path("state"))
        self.assertEqual(m["onside_agent_lines_read_total"], 30)
        self.assertEqual(m["onside_agent_bytes_read_total"], os.path.getsize(log))
        self.assertEqual(m["onside_agent_events_sent_total"], 28)
        self.assertEqual(m['onside_agent_events_rejected_total{reason="parse"}'], 1)
        self.assertEqual(m['onside_agent_events_skipped_total{reason="match"}'], 1)
        self.assertEqual(m['onside_agent_requests_total{status="204"}'], 1)
        self.assertEqual(m["onside_agent_requests_in_flight"], 0)
        self.assertEqual(m['onside_agent_file_lag_bytes{path="%s"}' % log], 0)
        self.assertGreater(m["onside_agent_last_delivery_timestamp_seconds"], time.time() - 120)
        with open(os.path.join(self.path("state"), "metrics.prom")) as f:
            text = f.read()
        self.assertIn("# TYPE onside_agent_lines_read_total counter\n", text)
        self.assertIn("# TYPE onside_agent_file_lag_bytes gauge\n", text)

    def test_status_healthy_then_lagging(self):
        log = self.write_log(purchase_lines(5, seed=2))
        cfg = self.config(paths=[log])
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        rc, out, err = run_agent(["status", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, out + err)
        head, header, rows = agentlib.status_lines(out)
        self.assertEqual(head, ["agent: not running; from the checkpoint"])
        self.assertEqual(header.split(), ["PATH", "OFFSET", "SIZE", "LAG", "OLDEST", "LAST", "DELIVERY", "LAST",
                                          "ERROR"])
        size = os.path.getsize(log)
        self.assertEqual(rows[0].split()[:5], [log, str(size), str(size), "0", "-"])
        self.assertNotIn(agentlib.TEST_PASSWORD, out + err)
        # lines written and not delivered, no delivery ever for them in the last minutes: lagging
        append_lines(log, purchase_lines(2, seed=3, start=6))
        os.utime(os.path.join(self.path("state"), "checkpoint.json"))
        cp = os.path.join(self.path("state"), "checkpoint.json")
        with open(cp) as f:
            text = f.read()
        with open(cp, "w") as f:
            f.write(text.replace('"last_delivery":', '"last_delivery":1000000000,"x":'))
        rc, out, _ = run_agent(["status", "-c", cfg], env=self.env())
        self.assertEqual(rc, 1, out)
        self.assertEqual(agentlib.status_lines(out)[2][0].split()[3], str(os.path.getsize(log) - size))

    def test_status_without_a_checkpoint_fails(self):
        cfg = self.config(paths=[self.path("none.log")])
        rc, _, err = run_agent(["status", "-c", cfg], env=self.env())
        self.assertEqual(rc, 1)
        self.assertIn("no readable checkpoint", err)

    def test_invalid_reload_is_refused_and_the_old_config_stays(self):
        log = self.write_log(purchase_lines(3, seed=4))
        cfg = self.config(paths=[log])
        proc = self.start_agent(["run", "-c", cfg])
        self.standin.wait_events(3)
        with open(cfg) as f:
            good = f.read()
        with open(cfg, "w") as f:
            f.write(good + "bogus_key: 1\n")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in agentlib.agent_stderr(proc), timeout=5, message="refusal")
        err = agentlib.agent_stderr(proc)
        self.assertIn('unknown key "bogus_key"', err)
        append_lines(log, purchase_lines(2, seed=5, start=4))
        self.standin.wait_events(5)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        self.assertEqual(self.standin.event_ids(), expected_pos_ids(log))

    def test_reload_adds_and_removes_inputs_without_resending(self):
        a = self.write_log(purchase_lines(5, seed=6), name="a.log")
        b = self.write_log(purchase_lines(4, seed=7), name="b.log")
        cfg = self.config(paths=[a])
        proc = self.start_agent(["run", "-c", cfg])
        self.standin.wait_events(5)
        # add input "second" for b.log
        second = agentlib.default_input([b], name="second")
        self.config(paths=[a], inputs=[agentlib.default_input([a]), second])
        proc.send_signal(signal.SIGHUP)
        self.standin.wait_events(9)
        append_lines(a, purchase_lines(2, seed=8, start=6))
        append_lines(b, purchase_lines(2, seed=9, start=5))
        self.standin.wait_events(13)
        # remove input "purchases": a.log is read no more; b.log goes on
        self.config(paths=[b], inputs=[second])
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: agentlib.agent_stderr(proc).count("reloaded") >= 2, timeout=5, message="second reload")
        append_lines(a, purchase_lines(3, seed=10, start=8))
        append_lines(b, purchase_lines(1, seed=11, start=7))
        self.standin.wait_events(14)
        time.sleep(0.5)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        ids = self.standin.event_ids()
        want_a = expected_pos_ids(a)[:7]
        want_b = expected_pos_ids(b, input_name="second")
        self.assertEqual(sorted(ids), sorted(want_a + want_b))
        self.assertEqual(len(ids), len(set(ids)))
        err = agentlib.agent_stderr(proc)
        self.assertIn("no longer an input's file", err)

    def test_reload_cannot_move_the_state_directory(self):
        log = self.write_log(purchase_lines(2, seed=12))
        cfg = self.config(paths=[log])
        proc = self.start_agent(["run", "-c", cfg])
        self.standin.wait_events(2)
        self.config(paths=[log], state_dir=self.path("elsewhere"))
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in agentlib.agent_stderr(proc), timeout=5, message="refusal")
        append_lines(log, purchase_lines(1, seed=13, start=3))
        self.standin.wait_events(3)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        self.assertFalse(os.path.exists(self.path("elsewhere")))
        self.assertTrue(os.path.exists(os.path.join(self.path("state"), "checkpoint.json")))


if __name__ == "__main__":
    agentlib.main()
