#!/usr/bin/env python3
"""Tests of the Onside API stand-in (tests/standin/standin.py) and of agentlib's helpers, including the
event-id derivation against tests/data/event-id-vectors.json. Needs no agent binary.

    python3 tests/integration/test_standin.py        (last line: "N passed, M failed")
"""

import email.utils
import http.client
import json
import os
import re
import signal
import socket
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib  # noqa: E402

VECTORS = os.path.join(agentlib.source_dir(), "tests", "data", "event-id-vectors.json")
UUID4_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
LINE_RE = re.compile(r'\{"ts":"2026-05-05T12:[0-9]{2}:[0-9]{2}Z","event":"purchase_completed",'
                     r'"install_id":"[0-9a-f-]{36}","order_id":"A-[0-9]+","currency":"USD",'
                     r'"amount":"[0-9]+\.[0-9]{2}"\}')


def event(i=0, **over):
    ev = {
        "event_name": "purchase_completed",
        "payload": {"currency": "USD", "amount": "9.99", "order_id": "A-%d" % i},
        "event_datetime": "2026-05-05T12:00:%02dZ" % (i % 60),
        "event_id": str(uuid.UUID(int=0x1234 + i, version=4)),
        "installation_id": "550e8400-e29b-41d4-a716-446655440000",
    }
    for k, v in over.items():
        if v is None:
            del ev[k]
        else:
            ev[k] = v
    return ev


def batch(n, start=0):
    return {"events": [event(i) for i in range(start, start + n)]}


class EventIdTest(unittest.TestCase):
    """agentlib's Python event ids reproduce every vector."""

    @classmethod
    def setUpClass(cls):
        with open(VECTORS) as f:
            cls.v = json.load(f)

    def test_prefix(self):
        self.assertEqual(self.v["prefix"].encode(), agentlib.ID_PREFIX)

    def test_fingerprints(self):
        self.assertTrue(self.v["fingerprint_examples"])
        for ex in self.v["fingerprint_examples"]:
            self.assertEqual(agentlib.fingerprint(bytes.fromhex(ex["first_line_hex"])), ex["fingerprint"])

    def test_pos_vectors(self):
        self.assertGreaterEqual(len(self.v["pos"]), 10)
        for vec in self.v["pos"]:
            with self.subTest(vec["why"]):
                got = agentlib.event_id_pos(bytes.fromhex(vec["namespace_hex"]), bytes.fromhex(vec["input_hex"]),
                                            bytes.fromhex(vec["first_line_hex"]), vec["offset"],
                                            bytes.fromhex(vec["line_hex"]))
                self.assertEqual(got, vec["event_id"])
                self.assertRegex(got, UUID4_RE)

    def test_key_vectors(self):
        self.assertGreaterEqual(len(self.v["key"]), 8)
        for vec in self.v["key"]:
            with self.subTest(vec["why"]):
                got = agentlib.event_id_key(bytes.fromhex(vec["namespace_hex"]),
                                            bytes.fromhex(vec["event_name_hex"]),
                                            [bytes.fromhex(x) for x in vec["values_hex"]])
                self.assertEqual(got, vec["event_id"])

    def test_file_ids_lf_and_crlf(self):
        # the first two pos vectors are lines 1 and 2 of an LF file; the third is line 2 of the CRLF file
        p = self.v["pos"]
        first, second = bytes.fromhex(p[0]["line_hex"]), bytes.fromhex(p[1]["line_hex"])
        ns = bytes.fromhex(p[0]["namespace_hex"])
        lf = first + b"\n" + second + b"\n" + b"partial"
        self.assertEqual(agentlib.expected_pos_ids(lf, ns, "purchases"), [p[0]["event_id"], p[1]["event_id"]])
        # in a CRLF file the fingerprint covers the first line's CR (docs/reference.md); LINE never has its CR
        crlf = first + b"\r\n" + second + b"\r\n"
        ids = agentlib.expected_pos_ids(crlf, ns, "purchases")
        self.assertEqual(ids, [agentlib.event_id_pos(ns, "purchases", first + b"\r", 0, first),
                               agentlib.event_id_pos(ns, "purchases", first + b"\r", 162, second)])
        self.assertNotEqual(agentlib.fingerprint(crlf), agentlib.fingerprint(lf))
        with tempfile.NamedTemporaryFile(suffix=".log") as f:
            f.write(lf)
            f.flush()
            self.assertEqual(agentlib.expected_pos_ids(f.name, ns, "purchases"),
                             [p[0]["event_id"], p[1]["event_id"]])
        # a line given with its LF or CRLF gives the same id as without
        self.assertEqual(agentlib.event_id_pos(ns, "purchases", first, 0, first + b"\r\n"), p[0]["event_id"])


class HelpersTest(unittest.TestCase):

    def test_purchase_lines(self):
        a = list(agentlib.purchase_lines(100, seed=3))
        self.assertEqual(a, list(agentlib.purchase_lines(100, seed=3)))
        self.assertNotEqual(a, list(agentlib.purchase_lines(100, seed=4)))
        self.assertEqual(len(set(a)), 100)
        for k, line in enumerate(a, 1):
            self.assertRegex(line, LINE_RE)
            d = json.loads(line)
            self.assertEqual(d["order_id"], "A-%d" % k)
            self.assertRegex(d["install_id"], UUID4_RE)
        self.assertTrue(a[0].startswith('{"ts":"2026-05-05T12:00:00Z",'))
        self.assertEqual(json.loads(a[61])["ts"], "2026-05-05T12:01:01Z")
        self.assertEqual(len(set(json.loads(x)["amount"] for x in a)) > 50, True)
        later = list(agentlib.purchase_lines(2, start=10))
        self.assertEqual(json.loads(later[0])["order_id"], "A-10")
        self.assertEqual(json.loads(later[0])["ts"], "2026-05-05T12:00:09Z")

    def test_yaml(self):
        text = agentlib.to_yaml({"a": {"b": [1, "x: y", {"c": True, "d": []}], "e": None},
                                 "inputs": [{"name": "n", "paths": ["/p"]}], "k y": {}})
        self.assertEqual(text, 'a:\n  b:\n    - 1\n    - "x: y"\n    - c: true\n      d: []\n  e: null\n'
                               'inputs:\n  - name: "n"\n    paths:\n      - "/p"\n"k y": {}\n')

    def test_write_config(self):
        with tempfile.TemporaryDirectory() as d:
            path = agentlib.write_config(os.path.join(d, "agent.yaml"), url="http://127.0.0.1:1234/x",
                                         batch={"max_events": 5}, retry={"max_backoff": None},
                                         input={"event": {"id_fields": ["order_id"]}},
                                         extra_section={"k": 1})
            with open(path) as f:
                text = f.read()
            cfg = agentlib.build_config("http://127.0.0.1:1234/x", os.path.join(d, "state"),
                                        [os.path.join(d, "purchases.log")], batch={"max_events": 5},
                                        retry={"max_backoff": None}, input={"event": {"id_fields": ["order_id"]}},
                                        extra_section={"k": 1})
            self.assertEqual(text, "# written by tests/integration/agentlib.py\n" + agentlib.to_yaml(cfg))
            self.assertEqual(cfg["batch"], {"flush_interval": "100ms", "max_events": 5})
            self.assertEqual(cfg["retry"], {"initial_backoff": "50ms"})
            self.assertEqual(cfg["endpoint"]["password_env"], "ONSIDE_TEST_PASSWORD")
            self.assertIs(cfg["endpoint"]["allow_insecure_http"], True)
            self.assertEqual(cfg["agent"]["id_namespace"], "test-ns")
            self.assertEqual(cfg["inputs"][0]["event"]["id_fields"], ["order_id"])
            self.assertEqual(cfg["inputs"][0]["event"]["event_name"], "${event}")
            self.assertEqual(cfg["extra_section"], {"k": 1})
            self.assertIn('  url: "http://127.0.0.1:1234/x"\n', text)


class AgentAcceptsConfigTest(unittest.TestCase):
    """write_config's output is what the agent expects, and the agent's ids are agentlib's."""

    def setUp(self):
        try:
            self.agent = agentlib.agent_binary()
        except FileNotFoundError as e:
            self.skipTest(str(e))

    def test_check_and_parse(self):
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "purchases.log")
            agentlib.append_lines(log, agentlib.purchase_lines(5, seed=1))
            cfg = agentlib.write_config(os.path.join(d, "agent.yaml"), url="http://127.0.0.1:9/x", paths=[log])
            rc, out, err = agentlib.run_agent(["check", "-c", cfg], timeout=20)
            self.assertEqual(rc, 0, out + err)
            rc, out, err = agentlib.run_agent(["parse", "-c", cfg, log], timeout=20)
            self.assertEqual(rc, 0, err)
            got = [json.loads(line) for line in out.splitlines()]
            self.assertEqual([e["event_id"] for e in got], agentlib.expected_pos_ids(log))
            self.assertEqual(got[0]["payload"]["order_id"], "A-1")


class StandInTest(unittest.TestCase):
    """One stand-in for the class; each test starts from default settings and zero counters."""

    @classmethod
    def setUpClass(cls):
        cls.si = agentlib.StandIn(reject_ids=["00000000-0000-4000-8000-00000000dead"])
        cls.si.start()

    @classmethod
    def tearDownClass(cls):
        cls.si.close()

    def setUp(self):
        self.si.control(mode="up", fault_5xx=0, fault_429=0, fault_reset=0, fault_slow=0, slow_seconds=5,
                        retry_after=1, retry_after_date=False, retry_after_value=None, status_script=[], seed=0,
                        reject_ids=["00000000-0000-4000-8000-00000000dead"], reset_stats=True)
        self.before = len(self.si.events())

    def new_events(self):
        return self.si.events()[self.before:]

    def assertStatus(self, response, status, error_re=None):
        st, headers, body = response
        self.assertEqual(st, status, body)
        if error_re is not None:
            self.assertRegex(json.loads(body)["error"], error_re)
        return headers, body

    # --- accepted batches ---

    def test_valid_batch_recorded(self):
        b = batch(3)
        headers, body = self.assertStatus(self.si.post(b), 204)
        self.assertEqual(body, b"")
        self.assertEqual(self.new_events(), b["events"])
        served = json.loads(self.si.request("GET", "/_events")[2])
        self.assertEqual(served[-3:], b["events"])
        s = self.si.stats()
        self.assertEqual((s["requests"], s["accepted_requests"], s["accepted_events"]), (1, 1, 3))
        self.assertEqual(s["by_status"], {"204": 1})
        line = r"POST /attribution-api/v1/events status=204 events=3 bytes=%d" % len(json.dumps(b).encode())
        agentlib.wait_for(lambda: re.search(line, self.si.log()), 3, message="the request's log line")

    def test_accepted_variants(self):
        upper = event(1, event_id=str(uuid.UUID(int=77, version=4)).upper())
        any_uuid = event(2, installation_id="6ba7b810-9dad-11d1-80b4-00c04fd430c8")  # a v1 UUID
        times = [event(3 + i, event_datetime=t) for i, t in enumerate(
            ["2026-05-05T12:00:00.123Z", "2026-05-05T14:00:00+02:00", "2026-05-05t12:00:00z",
             "2026-05-05T12:00:00.123456789-07:30", "2024-02-29T23:59:60Z"])]
        b = {"events": [upper, any_uuid, event(9, payload={}), event(10, event_name="x")] + times}
        self.assertStatus(self.si.post(b), 204)
        self.assertStatus(self.si.post(batch(1), content_type="application/json; charset=utf-8"), 204)
        self.assertStatus(self.si.post(batch(1), content_type="Application/JSON"), 204)
        self.assertEqual(len(self.new_events()), len(b["events"]) + 2)

    def test_duplicates_recorded_again(self):
        self.assertStatus(self.si.post(batch(2)), 204)
        self.assertStatus(self.si.post(batch(2)), 204)
        self.assertEqual(len(self.new_events()), 4)
        s = self.si.stats()
        self.assertEqual(s["accepted_events"], 4)
        self.assertGreaterEqual(s["duplicate_events"], 2)

    def test_chunked_body(self):
        conn = self.si.connection()
        body = json.dumps(batch(2)).encode()
        conn.putrequest("POST", agentlib.EVENTS_PATH)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Authorization", "Basic " + __import__("base64").b64encode(
            ("%s:%s" % (self.si.user, self.si.password)).encode()).decode())
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for i in range(0, len(body), 100):
            part = body[i:i + 100]
            conn.send(b"%x\r\n%s\r\n" % (len(part), part))
        conn.send(b"0\r\n\r\n")
        r = conn.getresponse()
        self.assertEqual(r.status, 204, r.read())
        conn.close()
        self.assertEqual(len(self.new_events()), 2)

    # --- authentication ---

    def test_auth(self):
        st, headers, _ = self.si.request("POST", agentlib.EVENTS_PATH, batch(1), {"Content-Type": "application/json"})
        self.assertEqual(st, 401)
        self.assertTrue(headers["WWW-Authenticate"].startswith("Basic "))
        for value in ("Bearer abc", "Basic", "Basic !!!notbase64", "Basic " + "bm9jb2xvbg=="):  # "nocolon"
            st, headers, _ = self.si.request("POST", agentlib.EVENTS_PATH, batch(1),
                                             {"Content-Type": "application/json", "Authorization": value})
            self.assertEqual(st, 401, value)
            self.assertIn("WWW-Authenticate", headers)
        self.assertStatus(self.si.post(batch(1), password="wrong"), 403, "credentials")
        self.assertStatus(self.si.post(batch(1), user="other"), 403)
        self.assertStatus(self.si.post(batch(1), password=self.si.password + "x"), 403)
        self.assertEqual(self.new_events(), [])
        self.assertEqual(self.si.stats()["by_status"], {"401": 5, "403": 3})

    # --- request-level validation ---

    def test_content_type(self):
        self.assertStatus(self.si.post(batch(1), content_type=None), 400, "Content-Type")
        self.assertStatus(self.si.post(batch(1), content_type="text/plain"), 400, "Content-Type")
        self.assertStatus(self.si.post(batch(1), content_type="application/json; charset=latin-1"), 400)
        self.assertStatus(self.si.post(batch(1), content_type="application/jsonx"), 400)
        self.assertEqual(self.new_events(), [])

    def test_body_size_limit(self):
        def body_of(size):
            ev = event(0, payload={"pad": ""})
            base = len(json.dumps({"events": [ev]}, separators=(",", ":")).encode())
            ev["payload"]["pad"] = "x" * (size - base)
            data = json.dumps({"events": [ev]}, separators=(",", ":")).encode()
            self.assertEqual(len(data), size)
            return data
        self.assertStatus(self.si.post(body_of(999999)), 204)
        self.assertStatus(self.si.post(body_of(1000000)), 413)
        self.assertStatus(self.si.post(body_of(1500000)), 413)
        self.assertEqual(len(self.new_events()), 1)

    def test_event_count_limits(self):
        self.assertStatus(self.si.post({"events": []}), 400, "empty")
        self.assertStatus(self.si.post(batch(1001)), 413, "1001")
        self.assertStatus(self.si.post(batch(1000)), 204)
        self.assertEqual(len(self.new_events()), 1000)

    def test_malformed_bodies(self):
        cases = [
            (b"", "malformed JSON"), (b"{", "malformed JSON"), (b"[]", "not an object"),
            (b'"x"', "not an object"), (b"{}", "no \"events\""), (b'{"events":{}}', "not an array"),
            (b'{"events":null}', "not an array"),
            (json.dumps(dict(batch(1), extra=1)).encode(), "unknown key \"extra\""),
            (b'{"events":[],"events":[]}', "duplicate key"),
            (json.dumps(batch(1)).encode().replace(b'"9.99"', b"NaN"), "NaN"),
            (json.dumps(batch(1)).encode().replace(b"9.99", b"9.\xff9"), "UTF-8"),
            (b'\xef\xbb\xbf' + json.dumps(batch(1)).encode(), "malformed JSON"),
        ]
        for body, err in cases:
            with self.subTest(body=body[:40]):
                self.assertStatus(self.si.post(body), 400, re.escape(err))
        self.assertEqual(self.new_events(), [])

    # --- event-level validation ---

    def test_event_rules(self):
        bad = [
            ("not an object", "events[3] is a string, not an object", "x"),
            ("missing key", "events[3] is missing event_id", event(3, event_id=None)),
            ("missing payload", "events[3] is missing payload", event(3, payload=None)),
            ("unknown key", "events[3] has an unknown key \"extra\"", dict(event(3), extra=1)),
            ("empty name", "events[3].event_name is empty", event(3, event_name="")),
            ("name not string", "events[3].event_name is a number, not a string", event(3, event_name=5)),
            ("payload array", "events[3].payload is an array, not an object", event(3, payload=[])),
            ("payload string", "events[3].payload is a string, not an object", event(3, payload="{}")),
            ("datetime number", "events[3].event_datetime is a number", event(3, event_datetime=1777982400)),
            ("event_id v1", "events[3].event_id is not a UUIDv4",
             event(3, event_id="6ba7b810-9dad-11d1-80b4-00c04fd430c8")),
            ("event_id variant", "events[3].event_id is not a UUIDv4",
             event(3, event_id="550e8400-e29b-41d4-c716-446655440000")),
            ("event_id braces", "events[3].event_id is not a UUIDv4",
             event(3, event_id="{550e8400-e29b-41d4-a716-446655440000}")),
            ("event_id no dashes", "events[3].event_id is not a UUIDv4",
             event(3, event_id="550e8400e29b41d4a716446655440000")),
            ("event_id newline", "events[3].event_id is not a UUIDv4",
             event(3, event_id="550e8400-e29b-41d4-a716-446655440000\n")),
            ("event_id number", "events[3].event_id is not a UUIDv4", event(3, event_id=1)),
            ("installation_id", "events[3].installation_id is not a UUID", event(3, installation_id="abc")),
            ("installation_id short", "events[3].installation_id is not a UUID",
             event(3, installation_id="550e8400-e29b-41d4-a716-44665544000")),
            ("installation_id null", "events[3].installation_id is not a UUID",
             dict(event(3), installation_id=None)),
            ("rejected id", "events[3].event_id 00000000-0000-4000-8000-00000000dead is rejected",
             event(3, event_id="00000000-0000-4000-8000-00000000DEAD")),
        ]
        for t in ("2026-05-05", "2026-05-05T12:00:00", "2026-05-05 12:00:00Z", "2026-02-30T12:00:00Z",
                  "2026-05-05T24:00:00Z", "2026-05-05T12:60:00Z", "2026-05-05T12:00:00+25:00",
                  "2026-05-05T12:00:00.Z", "2026-5-5T12:00:00Z", "20260505T120000Z", "yesterday", "",
                  "2026-05-05T12:00:00Z ", "\uff12026-05-05T12:00:00Z", "2026-05-05T12:00:00+0200"):
            bad.append(("datetime %r" % t, "events[3].event_datetime is not an ISO 8601 date-time",
                        event(3, event_datetime=t)))
        for why, err, ev in bad:
            with self.subTest(why):
                b = batch(5)
                b["events"][3] = ev
                headers, body = self.assertStatus(self.si.post(b), 400)
                doc = json.loads(body)
                self.assertTrue(doc["error"].startswith(err), doc)
                self.assertEqual(doc["index"], 3)
                self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(self.new_events(), [])
        self.assertEqual(self.si.stats()["by_status"], {"400": len(bad)})

    def test_first_bad_event_named(self):
        b = batch(6)
        b["events"][2]["event_id"] = "nope"
        b["events"][4]["installation_id"] = "nope"
        self.assertStatus(self.si.post(b), 400, r"^events\[2\]\.event_id is not a UUIDv4$")

    def test_reject_ids_control(self):
        b = batch(3)
        target = b["events"][1]["event_id"]
        self.si.control(add_reject_ids=[target.upper()])
        self.assertStatus(self.si.post(b), 400, r"^events\[1\]\.event_id .* is rejected")
        self.assertStatus(self.si.post({"events": [b["events"][0]]}), 204)
        settings = self.si.control(reject_ids=[])
        self.assertEqual(settings["reject_ids"], [])
        self.assertStatus(self.si.post(b), 204)
        self.assertEqual(len(self.new_events()), 4)

    # --- routing ---

    def test_routing(self):
        self.assertStatus(self.si.request("GET", agentlib.EVENTS_PATH), 405)
        self.assertStatus(self.si.request("POST", "/attribution-api/v1/event", batch(1),
                                          {"Content-Type": "application/json"}), 404)
        self.assertStatus(self.si.request("DELETE", "/_stats"), 405)

    # --- control API ---

    def test_mode_down_and_up(self):
        settings = self.si.control(mode="down")
        self.assertEqual(settings["mode"], "down")
        self.assertStatus(self.si.post(batch(1)), 503)
        self.assertStatus(self.si.post(batch(1)), 503)
        self.si.control(mode="up")
        self.assertStatus(self.si.post(batch(1)), 204)
        s = self.si.stats()
        self.assertEqual(s["by_status"], {"503": 2, "204": 1})
        self.assertEqual(s["faults"]["down"], 2)
        self.assertEqual(len(self.new_events()), 1)

    def test_status_script(self):
        self.si.control(status_script=[503, 429, 204, 400, "normal"], retry_after=3)
        got = []
        for _ in range(6):
            st, headers, _ = self.si.post(batch(1))
            got.append(st)
            if st == 429:
                self.assertEqual(headers["Retry-After"], "3")
        self.assertEqual(got, [503, 429, 204, 400, 204, 204])
        self.assertEqual(len(self.new_events()), 3)
        self.assertEqual(self.si.control()["status_script"], [])

    def test_retry_after_date(self):
        self.si.control(fault_429=1, retry_after=30, retry_after_date=True)
        st, headers, _ = self.si.post(batch(1))
        self.assertEqual(st, 429)
        when = email.utils.parsedate_to_datetime(headers["Retry-After"]).timestamp()
        self.assertTrue(29 <= when - time.time() <= 32, headers["Retry-After"])
        self.si.control(retry_after=-1)
        st, headers, _ = self.si.post(batch(1))
        self.assertEqual(st, 429)
        self.assertNotIn("Retry-After", headers)
        self.assertEqual(self.new_events(), [])

    def test_retry_after_value_is_sent_as_is(self):
        past = "Wed, 21 Oct 2015 07:28:00 GMT"
        self.assertEqual(self.si.control(fault_429=1, retry_after_value=past)["retry_after_value"], past)
        st, headers, _ = self.si.post(batch(1))
        self.assertEqual((st, headers["Retry-After"]), (429, past))
        self.si.control(retry_after_value=None, retry_after=2)
        st, headers, _ = self.si.post(batch(1))
        self.assertEqual((st, headers["Retry-After"]), (429, "2"))
        self.assertEqual(self.si.request("POST", "/_control", {"retry_after_value": 5})[0], 400)

    def test_control_errors(self):
        for doc in ({"mode": "sideways"}, {"fault_5xx": 2}, {"fault_429": "x"}, {"nope": 1},
                    {"status_script": [700]}, {"reject_ids": "abc"}, [1]):
            with self.subTest(doc=doc):
                st, _, body = self.si.request("POST", "/_control", doc)
                self.assertEqual(st, 400, body)
        st, _, body = self.si.request("POST", "/_control", b"{bad")
        self.assertEqual(st, 400)
        # a refused document changes nothing, not even its valid part
        self.assertEqual(self.si.request("POST", "/_control", {"mode": "down", "nope": 1})[0], 400)
        self.assertEqual(self.si.control()["mode"], "up")

    def test_reset_stats(self):
        self.si.post(batch(1))
        self.assertEqual(self.si.stats()["requests"], 1)
        self.si.control(reset_stats=True)
        s = self.si.stats()
        self.assertEqual((s["requests"], s["accepted_events"], s["connections"], s["by_status"]), (0, 0, 0, {}))

    # --- faults ---

    def statuses(self, n):
        out = []
        for _ in range(n):
            out.append(self.si.post(batch(1))[0])
        return out

    def test_fault_5xx_seeded(self):
        self.si.control(fault_5xx=0.5, seed=7)
        first = self.statuses(30)
        self.si.control(seed=7)
        self.assertEqual(self.statuses(30), first)
        self.assertIn(204, first)
        self.assertTrue(set(first) - {204} <= {500, 502, 503}, first)
        self.assertGreaterEqual(len(set(first) - {204}), 2, first)
        self.si.control(seed=8)
        self.assertNotEqual(self.statuses(30), first)
        # faulted requests record nothing
        by_status = self.si.stats()["by_status"]
        self.assertEqual(sum(by_status.values()), 90)
        self.assertEqual(len(self.new_events()), by_status["204"])

    def test_fault_sequence_independent_of_probabilities(self):
        # the same seed draws the same numbers whatever the probabilities: 429 ⊆ where 5xx would not hit
        self.si.control(fault_429=0.5, seed=11)
        a = self.statuses(20)
        self.si.control(fault_429=0.5, fault_5xx=0.3, seed=11)
        b = self.statuses(20)
        for x, y in zip(a, b):
            if y == 429:
                self.assertEqual(x, 429)
            if y == 204:
                self.assertEqual(x, 204)

    def test_fault_reset(self):
        self.si.control(fault_reset=1)
        conn = self.si.connection()
        conn.request("POST", agentlib.EVENTS_PATH, json.dumps(batch(1)), self.auth_headers())
        with self.assertRaises((ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)):
            conn.getresponse().read()
        conn.close()
        s = self.si.stats()
        self.assertEqual(s["faults"]["reset"], 1)
        self.assertEqual(s["by_status"], {})
        self.assertEqual(self.new_events(), [])
        self.si.control(fault_reset=0)
        self.assertStatus(self.si.post(batch(1)), 204)

    def test_fault_slow(self):
        self.si.control(fault_slow=1, slow_seconds=0.6)
        conn = http.client.HTTPConnection("127.0.0.1", self.si.port, timeout=0.2)
        conn.request("POST", agentlib.EVENTS_PATH, json.dumps(batch(1)), self.auth_headers())
        with self.assertRaises(socket.timeout):
            conn.getresponse()
        conn.close()
        t0 = time.monotonic()
        self.assertStatus(self.si.post(batch(1, start=5)), 204)
        self.assertGreaterEqual(time.monotonic() - t0, 0.55)
        # a slow request is handled normally after the delay: both batches end up recorded
        agentlib.wait_for(lambda: len(self.new_events()) == 2, 3, message="two slow batches recorded")
        self.assertEqual(self.si.stats()["faults"]["slow"], 2)

    def test_fault_429(self):
        self.si.control(fault_429=1, retry_after=2)
        headers, body = self.assertStatus(self.si.post(batch(1)), 429)
        self.assertEqual(headers["Retry-After"], "2")
        self.assertEqual(self.new_events(), [])

    # --- connections ---

    def auth_headers(self):
        import base64
        cred = base64.b64encode(("%s:%s" % (self.si.user, self.si.password)).encode()).decode()
        return {"Content-Type": "application/json", "Authorization": "Basic " + cred}

    def test_keep_alive(self):
        conn = self.si.connection()
        for i in range(3):
            conn.request("POST", agentlib.EVENTS_PATH, json.dumps(batch(1, start=i)), self.auth_headers())
            r = conn.getresponse()
            self.assertEqual(r.status, 204)
            self.assertEqual(r.read(), b"")
        # an error answer keeps the connection too
        conn.request("POST", agentlib.EVENTS_PATH, "{", self.auth_headers())
        r = conn.getresponse()
        self.assertEqual(r.status, 400)
        self.assertEqual(int(r.getheader("Content-Length")), len(r.read()))
        self.assertEqual(self.si.stats()["connections"], 1)  # /_stats connections are not counted
        self.assertStatus(self.si.post(batch(1)), 204)
        s = self.si.stats()
        self.assertEqual(s["connections"], 2)
        self.assertEqual(s["requests"], 5)
        self.assertGreaterEqual(s["sockets"], 3)
        conn.close()


class StandInProcessTest(unittest.TestCase):
    """Command-line options, TLS and the signals, each with its own process."""

    def test_flags(self):
        dead = str(uuid.UUID(int=5, version=4))
        opts = dict(seed=3, fault_429=0.5, retry_after=4, retry_after_date=True, reject_ids=[dead, "x"])
        with agentlib.StandIn(**opts) as si:
            got = [si.post(batch(1)) for _ in range(12)]
            with agentlib.StandIn(**opts) as si2:
                self.assertEqual([g[0] for g in got], [si2.post(batch(1))[0] for _ in range(12)])
            self.assertEqual(set(g[0] for g in got), {204, 429})
            for st, headers, _ in got:
                if st == 429:
                    email.utils.parsedate_to_datetime(headers["Retry-After"])
            si.control(fault_429=0)
            b = batch(1)
            b["events"][0]["event_id"] = dead
            self.assertEqual(si.post(b)[0], 400)
            self.assertEqual(len(si.events()), sum(1 for g in got if g[0] == 204))

    def test_bad_arguments(self):
        for opts in ({"fault_5xx": 3}, {"tls_cert": "/nonexistent"}):
            si = agentlib.StandIn(**opts)
            try:
                with self.assertRaises(RuntimeError):
                    si.start()
                self.assertEqual(si.proc.returncode, 2)
            finally:
                si.close()

    def test_signals_and_restart(self):
        with tempfile.TemporaryDirectory() as d:
            si = agentlib.StandIn(directory=d)
            si.start()
            self.assertEqual(si.post(batch(2))[0], 204)
            port = si.port
            self.assertEqual(si.stop(), 0)
            self.assertEqual(si.restart().port, port)  # same port, same record
            self.assertEqual(si.post(batch(1, start=9))[0], 204)
            self.assertEqual(len(si.events()), 3)
            si.proc.send_signal(signal.SIGINT)
            self.assertEqual(si.proc.wait(5), 0)
            with open(si.log_path) as f:
                self.assertIn("stopped:", f.read())

    def test_tls(self):
        with tempfile.TemporaryDirectory() as d:
            cert, key = agentlib.make_tls_cert(d)
            with agentlib.StandIn(tls=(cert, key)) as si:
                self.assertTrue(si.url.startswith("https://127.0.0.1:"))
                self.assertEqual(si.post(batch(1))[0], 204)
                import ssl
                ctx = ssl.create_default_context(cafile=cert)
                conn = http.client.HTTPSConnection("127.0.0.1", si.port, timeout=5, context=ctx)
                conn.request("GET", "/_stats")
                self.assertEqual(json.loads(conn.getresponse().read())["accepted_events"], 1)
                conn.close()
                # a client that does not trust the certificate fails; the server goes on
                with self.assertRaises(ssl.SSLError):
                    bad = http.client.HTTPSConnection("127.0.0.1", si.port, timeout=5,
                                                      context=ssl.create_default_context())
                    bad.request("GET", "/_stats")
                self.assertEqual(si.post(batch(1))[0], 204)


if __name__ == "__main__":
    agentlib.main()
