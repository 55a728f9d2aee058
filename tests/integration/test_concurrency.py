"""Adaptive request concurrency (batch.max_in_flight: auto, the default) against the API stand-in: the
limit grows while the API keeps up and the agent has batches waiting, shrinks on 429 and 503 storms,
stays put under light load or when fixed, shows in the debug log and in metrics.prom, and whatever order
the requests complete in, the checkpoint never moves past a line that was not delivered."""

import json
import os
import re
import time

import agentlib
from agentlib import expected_pos_ids, purchase_lines, wait_for

CHANGE = re.compile(r"debug sender: concurrency (\d+) -> (\d+): ([^(]+) \(")


def checkpoint(state):
    with open(os.path.join(state, "checkpoint.json")) as f:
        return json.load(f)


metrics = agentlib.metrics


def changes(text):
    """The concurrency changes in a debug log: [(from, to, why)]."""
    return [(int(a), int(b), why.strip()) for a, b, why in CHANGE.findall(text)]


class Concurrency(agentlib.AgentTestCase):
    def start(self, n, seed, batch=None, **over):
        log = self.write_log(purchase_lines(n, seed=seed))
        b = {"max_events": 100, "flush_interval": "100ms", "max_in_flight_ceiling": 8}
        b.update(batch or {})
        cfg = self.config(paths=[log], batch=b, agent={"log_level": "debug"}, **over)
        with open(log, "rb") as f:
            content = f.read()
        proc = self.start_agent(["run", "-c", cfg])
        return proc, content

    def watch(self, proc, content, until, timeout=90):
        """Polls until until() holds: at every look, the checkpoint covers only delivered lines.
        Returns how many times it looked at a checkpoint."""
        ids = expected_pos_ids(content)
        ends = [off + len(line) + 1 for off, line in agentlib.file_lines(content)]
        looked = 0
        deadline = time.monotonic() + timeout
        while not until():
            self.assertLess(time.monotonic(), deadline, "timed out; agent log:\n" + agentlib.agent_stderr(proc)[-3000:])
            try:  # not written yet; the file is replaced atomically, never seen half-written
                offset = checkpoint(self.path("state"))["files"][0]["offset"]
            except (FileNotFoundError, IndexError):
                time.sleep(0.05)
                continue
            delivered = set(self.standin.event_ids())
            missing = [i for i, end in enumerate(ends) if end <= offset and ids[i] not in delivered]
            self.assertEqual(missing, [], "checkpoint %d covers undelivered lines" % offset)
            looked += 1
            time.sleep(0.1)
        return looked

    def finish(self, proc, content):
        self.standin.wait_events(len(expected_pos_ids(content)), timeout=90)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        # each event exactly once, whatever the order of the batches on the wire
        self.assertEqual(sorted(self.standin.event_ids()), sorted(expected_pos_ids(content)))
        wait_for(lambda: checkpoint(self.path("state"))["files"][0]["offset"] == len(content), timeout=5,
                 message="the final checkpoint")
        return agentlib.agent_stderr(proc)

    def test_out_of_order_completions_never_move_the_checkpoint_past_undelivered_lines(self):
        # two answers in five take 0.2 s: with several requests in flight, later batches complete first
        self.standin.control(fault_slow=0.4, slow_seconds=0.2, seed=11)
        proc, content = self.start(20000, seed=31)
        looked = self.watch(proc, content, lambda: len(self.standin.events()) >= 20000)
        self.assertGreater(looked, 3)
        self.assertGreater(self.standin.stats()["max_in_flight"], 1)
        err = self.finish(proc, content)
        ch = changes(err)
        # the limit grew while the stand-in kept up, visibly, and never past the ceiling
        self.assertIn((1, 2, "round trips near the baseline"), ch, err[-3000:])
        self.assertTrue(all(1 <= to <= 8 for _, to, _ in ch), ch)
        self.assertLessEqual(self.standin.stats()["max_in_flight"], 8)
        m = metrics(self.path("state"))
        self.assertGreaterEqual(m["onside_agent_concurrency_limit"], 1)
        self.assertLessEqual(m["onside_agent_concurrency_limit"], 8)
        self.assertGreater(m["onside_agent_request_latency_seconds"], 0)

    def test_429_and_503_storms_shrink_the_limit_and_lose_nothing(self):
        # answers that all take 50 ms: the limit grows (it doubles until the first decrease)
        self.standin.control(fault_slow=1.0, slow_seconds=0.05, seed=12)
        proc, content = self.start(30000, seed=32)
        grown = lambda: any(to >= 4 for _, to, _ in changes(agentlib.agent_stderr(proc)))
        self.watch(proc, content, grown)
        # a storm of 429s (Retry-After: 0, so each pause is retry.initial_backoff) ...
        self.standin.control(fault_429=0.5, retry_after=0)
        cut429 = lambda: any(why == "HTTP 429" for _, _, why in changes(agentlib.agent_stderr(proc)))
        self.watch(proc, content, cut429)
        # ... then one of 503s
        self.standin.control(fault_429=0.0, fault_5xx=0.5)
        cut5xx = lambda: any(why == "server errors or timeouts" for _, _, why in changes(agentlib.agent_stderr(proc)))
        self.watch(proc, content, cut5xx)
        self.standin.control(fault_5xx=0.0)
        self.watch(proc, content, lambda: len(self.standin.events()) >= 30000)
        err = self.finish(proc, content)
        ch = changes(err)
        for a, b, why in ch:
            if why == "HTTP 429":
                self.assertEqual(b, max(1, min(a - 1, int(a * 0.9))), ch)  # 9/10, at least one less
            elif why == "server errors or timeouts":
                self.assertEqual(b, max(1, a // 2), ch)  # halved
        self.assertIn("rate limited: at most ", err)
        stats = self.standin.stats()
        self.assertGreater(stats["by_status"].get("429", 0), 0)
        self.assertGreater(stats["by_status"].get("500", 0) + stats["by_status"].get("502", 0) +
                           stats["by_status"].get("503", 0), 0)
        m = metrics(self.path("state"))
        self.assertGreater(m['onside_agent_requests_total{status="429"}'], 0)
        self.assertGreater(m["onside_agent_request_rate_limit"], 0)  # the cap learned from the 429s

    def test_light_load_does_not_grow_the_limit(self):
        log = self.write_log([])
        cfg = self.config(paths=[log], batch={"flush_interval": "50ms"}, agent={"log_level": "debug"})
        proc = self.start_agent(["run", "-c", cfg])
        # one line at a time, each delivered before the next is written: never a batch waiting
        for k, line in enumerate(purchase_lines(30, seed=33), start=1):
            agentlib.append_lines(log, [line])
            self.standin.wait_events(k, timeout=10)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        err = agentlib.agent_stderr(proc)
        self.assertEqual(changes(err), [])
        self.assertEqual(self.standin.stats()["max_in_flight"], 1)
        m = metrics(self.path("state"))
        self.assertEqual(m["onside_agent_concurrency_limit"], 1)
        self.assertEqual(m["onside_agent_request_rate_limit"], 0)
        self.assertGreater(m["onside_agent_request_latency_seconds"], 0)

    def test_a_fixed_max_in_flight_never_moves(self):
        self.standin.control(fault_slow=1.0, slow_seconds=0.05, seed=13)
        proc, content = self.start(5000, seed=34, batch={"max_in_flight": 3, "max_in_flight_ceiling": None})
        self.watch(proc, content, lambda: len(self.standin.events()) >= 2000)
        self.standin.control(fault_429=0.3, retry_after=0)
        self.watch(proc, content, lambda: self.standin.stats()["by_status"].get("429", 0) >= 3)
        self.standin.control(fault_429=0.0)
        err = self.finish(proc, content)
        self.assertEqual(changes(err), [])
        self.assertEqual(self.standin.stats()["max_in_flight"], 3)
        self.assertEqual(metrics(self.path("state"))["onside_agent_concurrency_limit"], 3)


if __name__ == "__main__":
    agentlib.main()
