#!/usr/bin/env python3
"""Backpressure (SPEC.md, "Delivery rules"): while the API is down the agent stops reading ahead and
the log file is the buffer. Asserted directly: after some deliveries the API goes down and 20,000 lines
are written; the lines read stop well short of the file's end and stay there while requests keep failing, with max_in_flight 1, 16 and auto; memory grows by no more than a
little meanwhile; once the API is back, every line arrives exactly once."""
import os
import re
import signal

import agentlib
from agentlib import expected_pos_ids, purchase_lines, wait_for

WRAPPED = bool(os.environ.get("ONSIDE_AGENT_WRAPPER"))
SLOW = 10 if WRAPPED else 1
BEFORE = 1000
LINES = 20000
MAX_EVENTS = 100
CEILING = 32  # batch.max_in_flight_ceiling's default: how far auto may go


class Backpressure(agentlib.AgentTestCase):
    def lines_read(self, proc):
        """The agent's count of lines read, from the summary SIGUSR1 makes it log."""
        pattern = re.compile(r"info agent: lines (\d+), events")
        before = len(pattern.findall(agentlib.agent_stderr(proc)))
        proc.send_signal(signal.SIGUSR1)
        found = wait_for(lambda: (lambda m: m if len(m) > before else None)(pattern.findall(agentlib.agent_stderr(proc))),
                         timeout=10 * SLOW, message="the SIGUSR1 summary")
        return int(found[-1])

    def refused(self, n):
        wait_for(lambda: self.standin.stats()["requests"] >= n, timeout=30 * SLOW, message="%d refused requests" % n)

    def reading_stops_while_the_api_is_down(self, max_in_flight, bound_batches):
        log = self.write_log(purchase_lines(BEFORE, seed=600))
        cfg = self.config(paths=[log], batch={"max_events": MAX_EVENTS, "max_in_flight": max_in_flight},
                          retry={"initial_backoff": "50ms", "max_backoff": "200ms"})
        proc = self.start_agent(["run", "-c", cfg])
        # deliveries first (auto's limit grows with them), then the outage, then the lines
        self.standin.wait_events(BEFORE, timeout=30 * SLOW)
        self.standin.control(mode="down")
        agentlib.append_lines(log, purchase_lines(LINES, seed=601, start=BEFORE + 1))
        self.refused(self.standin.stats()["requests"] + 5)
        read = self.lines_read(proc) - BEFORE
        rss = agentlib.proc_status_kib(proc.pid)
        self.refused(self.standin.stats()["requests"] + 10)
        read_later = self.lines_read(proc) - BEFORE
        rss_later = agentlib.proc_status_kib(proc.pid)
        # reading stopped after the batches the sender may hold, well short of the end, and stays there
        self.assertGreater(read, 0)
        self.assertLessEqual(read, bound_batches * MAX_EVENTS, "lines read while the API was down")
        self.assertEqual(read_later, read, "the agent went on reading while the API was down")
        # memory: growth only, not a size (that depends on the allocator and the sanitizer)
        if WRAPPED:
            agentlib.lost_check(self, "RSS growth: under %s the RSS is the tool's" % os.environ["ONSIDE_AGENT_WRAPPER"].split()[0])
        else:
            self.assertLess(rss_later - rss, 4 * 1024, "RSS grew from %d to %d KiB while the API was down"
                            % (rss, rss_later))
        self.standin.control(mode="up")
        self.standin.wait_events(BEFORE + LINES, timeout=120 * SLOW)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        self.assertEqual(sorted(self.standin.event_ids()), sorted(expected_pos_ids(log)))

    # the batches held: one in flight per allowed request, one waiting, one being built (agent.c)
    def test_reading_stops_with_one_request_in_flight(self):
        self.reading_stops_while_the_api_is_down(1, 1 + 2)

    def test_reading_stops_with_sixteen_requests_in_flight(self):
        self.reading_stops_while_the_api_is_down(16, 16 + 2)

    def test_reading_stops_with_adaptive_concurrency(self):
        self.reading_stops_while_the_api_is_down("auto", CEILING + 2)


if __name__ == "__main__":
    agentlib.main()
