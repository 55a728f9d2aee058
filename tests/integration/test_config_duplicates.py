#!/usr/bin/env python3
"""Duplicate names in the configuration, through the real binary (`check`): a payload field listed
twice, a payload output name or a `match` field given twice, two inputs with one name; each is
reported at the repeated occurrence with its exact position, also among 100,000 payload names (the
check is a hash-set lookup per name; tests/bench/bench_config.py measures its speed)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib  # noqa: E402
from agentlib import run_agent  # noqa: E402

HEAD = """endpoint:
  url: http://127.0.0.1:9/attribution-api/v1/events
  allow_insecure_http: true
  username: u
  password_env: ONSIDE_TEST_PASSWORD
agent:
  state_dir: {state}
  id_namespace: test-ns
inputs:
"""

INPUT = """  - name: {name}
    paths: [{log}]
    event:
      event_name: ${{event}}
      event_datetime: ${{ts}}
      installation_id: ${{install_id}}
"""


def field(i):
    return "f%d" % i


class DuplicateNames(agentlib.AgentTestCase):
    def check(self, text):
        cfg = self.path("dup.yaml")
        with open(cfg, "w") as f:
            f.write(HEAD.format(state=self.path("state")) + text)
        rc, out, err = run_agent(["check", "-c", cfg], env=self.env(), timeout=120)
        return cfg, rc, out, err

    def input(self, name="a"):
        return INPUT.format(name=name, log=self.path("a.log"))

    def test_a_payload_field_listed_twice(self):
        cfg, rc, out, err = self.check(self.input() + "      payload: [order_id, amount, currency, amount]\n")
        self.assertEqual(rc, 2, out + err)
        self.assertEqual(err, '%s:16:45: inputs[0].event.payload[3]: duplicate field "amount"\n' % cfg)

    def test_a_payload_output_name_given_twice(self):
        cfg, rc, out, err = self.check(self.input() + "      payload:\n        total: ${amount}\n"
                                       "        cur: ${currency}\n        total: ${price}\n")
        self.assertEqual(rc, 2, out + err)
        self.assertEqual(err, '%s:19:9: duplicate key "total" in inputs[0].event.payload\n' % cfg)

    def test_a_match_field_given_twice(self):
        cfg, rc, out, err = self.check(self.input() + "    match:\n      event: '^purchase'\n"
                                       "      event: '^refund'\n")
        self.assertEqual(rc, 2, out + err)
        self.assertEqual(err, '%s:18:7: duplicate key "event" in inputs[0].match\n' % cfg)

    def test_two_inputs_with_one_name(self):
        cfg, rc, out, err = self.check(self.input("a") + self.input("b") + self.input("a"))
        self.assertEqual(rc, 2, out + err)
        self.assertEqual(err, '%s:22:11: inputs[2].name: duplicate input name "a" (first at line 10)\n' % cfg)

    def test_duplicates_among_100000_payload_names(self):
        names = [field(i) for i in range(100000)] + [field(17), field(99999), field(50000)]
        cfg, rc, out, err = self.check(self.input() + "      payload: [" + ",".join(names) + "]\n")
        self.assertEqual(rc, 2, out + err)
        line = "      payload: ["
        cols = []
        col = len(line) + 1
        for n in names:
            cols.append(col)
            col += len(n) + 1
        want = ["%s:16:%d: inputs[0].event.payload[%d]: duplicate field \"%s\"" % (cfg, cols[i], i, names[i])
                for i in (100000, 100001, 100002)]
        self.assertEqual(err.splitlines(), want)
        cfg, rc, out, err = self.check(self.input() + "      payload: [" + ",".join(names[:100000]) + "]\n")
        self.assertEqual(rc, 0, out + err)


if __name__ == "__main__":
    agentlib.main()
