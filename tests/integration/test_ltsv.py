#!/usr/bin/env python3
"""The ltsv parser through the real binary: an nginx access log written in LTSV (http://ltsv.org),
with times carrying their offset, URLs and user agents with colons and spaces, "-" for nothing and
empty values. Its purchase requests must reach the stand-in exactly as mapped, with the ids docs/reference.md
derives; the other requests are skipped by `match`; a line the writer cut short is dead-lettered with
the byte where it breaks. Every expected event is computed here, independently of the agent: the
fields by splitting at tabs and at the first colon, the times with datetime, the ids with agentlib's
implementation of the event-id derivation."""
import datetime
import os
import random
import re
import uuid

import agentlib
from agentlib import run_agent

NS = "test-ns"
INPUT = "purchases"
UAS = ["Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
       "curl/7.74.0", "-", "Mozilla/5.0 (iPhone; CPU iPhone OS 16_5 like Mac OS X)"]
OFFSETS = ["+09:00", "+00:00", "-05:00"]
LTSV_INPUT = {
    "parser": {"type": "ltsv"},
    "match": {"uri": "^/api/purchase"},
    "event": {"event_name": "purchase", "event_datetime": "${time}", "installation_id": "${iid}",
              "payload": ["order", "amount", "currency", "ua", "referer"]},
}


def access_log(n, seed):
    """n access lines as nginx writes them with an LTSV log_format, one request in three a purchase."""
    rng = random.Random(seed)
    base = datetime.datetime(2026, 5, 5, 12, 0, 0)
    out = []
    for k in range(n):
        t = (base + datetime.timedelta(seconds=k)).isoformat() + OFFSETS[k // 3 % len(OFFSETS)]
        fields = [("time", t), ("host", "10.0.%d.%d" % (rng.randrange(256), rng.randrange(256))),
                  ("forwardedfor", "-")]
        if k % 3 == 0:
            fields += [("method", "POST"), ("uri", "/api/purchase?session=%d" % k), ("status", "200"),
                       ("iid", str(uuid.UUID(int=rng.getrandbits(128), version=4))), ("order", "A-%d" % k),
                       ("amount", "%d.%02d" % (rng.randint(0, 499), rng.randint(0, 99))),
                       ("currency", rng.choice(["USD", "EUR", "JPY"]))]
        else:
            fields += [("method", "GET"), ("uri", "/shop/item/%d" % k), ("status", "200")]
        fields += [("referer", "http://shop.example/cart?from=%d" % k if k % 2 else ""),
                   ("ua", rng.choice(UAS)), ("reqtime", "0.%03d" % rng.randrange(1000))]
        out.append("\t".join("%s:%s" % f for f in fields))
    return out


def ltsv_fields(line):
    """The fields of an LTSV line (bytes), the last of a label winning; None when it is not LTSV."""
    out = {}
    for f in line.split(b"\t"):
        if not f:
            continue
        label, sep, value = f.partition(b":")
        if not sep or not re.fullmatch(rb"[0-9A-Za-z_.-]+", label):
            return None
        out[label.decode()] = value.decode()
    return out or None


def utc(t):
    return datetime.datetime.fromisoformat(t).astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def expected(path, key_ids=False):
    """The events the purchase lines of the file must become, in file order."""
    with open(path, "rb") as f:
        content = f.read()
    first = content.split(b"\n", 1)[0]
    out = []
    for off, line in agentlib.file_lines(content):
        f = ltsv_fields(line)
        if not f or not f["uri"].startswith("/api/purchase"):
            continue
        eid = (agentlib.event_id_key(NS, "purchase", [f["order"]]) if key_ids
               else agentlib.event_id_pos(NS, INPUT, first, off, line))
        out.append({"event_name": "purchase",
                    "payload": {k: f[k] for k in ("order", "amount", "currency", "ua", "referer")},
                    "event_datetime": utc(f["time"]), "event_id": eid, "installation_id": f["iid"]})
    return out


def metrics(state):
    out = {}
    with open(os.path.join(state, "metrics.prom")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
    return out


class LtsvAccessLog(agentlib.AgentTestCase):
    def deliver(self, lines, **input_over):
        log = self.write_log(lines, name="access.log")
        cfg = self.config(paths=[log], input=dict(LTSV_INPUT, **input_over))
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        return log

    def test_purchase_requests_are_delivered_as_mapped_with_their_ids(self):
        lines = access_log(90, seed=1)
        log = self.deliver(lines)
        want = expected(log)
        self.assertEqual(len(want), 30)
        # 12:00:00+09:00, 12:00:03+00:00, 12:00:06-05:00
        self.assertEqual([w["event_datetime"] for w in want[:3]],
                         ["2026-05-05T03:00:00Z", "2026-05-05T12:00:03Z", "2026-05-05T17:00:06Z"])
        self.assertEqual(self.standin.events(), want)
        self.assertEqual(agentlib.deadletters(self.path("state")), [])
        m = metrics(self.path("state"))
        self.assertEqual(m['onside_agent_events_skipped_total{reason="match"}'], 60)

    def test_line_cut_short_is_dead_lettered_with_the_byte_where_it_breaks(self):
        lines = access_log(30, seed=2)
        cut = lines[6][:lines[6].index("\tcurrency:") + len("\tcurren")]  # the writer died here
        lines[6] = cut
        lines[9] = lines[9].replace("\treqtime:", "\treq time:")
        self.deliver(lines)
        want = expected(self.path("access.log"))
        self.assertEqual(len(want), 8)  # 10 purchases, 2 broken
        self.assertEqual(self.standin.events(), want)
        dl = agentlib.deadletters(self.path("state"))
        self.assertEqual([d["line"] for d in dl], [cut, lines[9]])
        self.assertEqual([d["reason"] for d in dl], [
            "parse error: malformed ltsv at byte %d: field without a label" % (cut.rindex("\t") + 1),
            "parse error: malformed ltsv at byte %d: invalid byte 0x20 in label" % (lines[9].index("req time") + 3)])

    def test_order_ids_give_the_same_event_ids_on_every_host(self):
        lines = access_log(30, seed=3)
        log = self.deliver(lines, event=dict(LTSV_INPUT["event"], id_fields=["order"]))
        want = expected(log, key_ids=True)
        self.assertEqual(len(want), 10)
        self.assertEqual(self.standin.events(), want)


if __name__ == "__main__":
    agentlib.main()
