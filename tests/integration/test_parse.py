"""End-to-end tests of `onside-agent parse` through the real binary.

parse reads lines from PATH or stdin and prints one JSON object per input line: the event exactly as it
would be sent, {"rejected": REASON, "line": ...} or {"skipped": REASON, "line": ...}. Its ids are the
ones `run` derives for a file whose first line is the first line read (docs/reference.md); they are
checked against agentlib's independent implementation and against what `run --once` really sends.
parse needs no credentials and never touches the state directory.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib  # noqa: E402

NS = "test-ns"
INPUT = "purchases"
IID = "e3e70682-c209-4cac-a29f-6fbed82c07cd"
EVENT_KEYS = ["event_name", "payload", "event_datetime", "event_id", "installation_id"]


def plugin(name):
    """The absolute path of a built plugin in $ONSIDE_PLUGIN_DIR, or None when it is not there. Skips
    the test when the agent cannot load plugins at all (the static, portable build)."""
    agentlib.skip_unless_plugins_load()
    d = agentlib.plugin_dir()
    so = os.path.abspath(os.path.join(d, name)) if d else None
    return so if so and os.path.exists(so) else None


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def event_bytes(name, payload, dt, eid, iid):
    """The exact bytes of one event as the agent sends it (keys in the order of onside-api.md)."""
    return compact({"event_name": name, "payload": payload, "event_datetime": dt, "event_id": eid,
                    "installation_id": iid})


def no_password_env():
    """The environment without any password variable: parse must not need one."""
    env = agentlib.agent_env()
    env.pop(agentlib.PASSWORD_ENV, None)
    return env


class ParseCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="onside-e2e-parse-")
        self.state = self.path("state")

    def tearDown(self):
        if not os.environ.get("ONSIDE_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *names):
        return os.path.join(self.tmp, *names)

    def config(self, name="agent.yaml", credentials=False, **overrides):
        """A config in tmp; without credentials (no endpoint section at all) unless asked for."""
        if not credentials:
            overrides.setdefault("endpoint", None)
        overrides.setdefault("state_dir", self.state)
        return agentlib.write_config(self.path(name), **overrides)

    def write(self, data, name="purchases.log"):
        p = self.path(name)
        with open(p, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode("utf-8"))
        return p

    def parse(self, cfg, args=(), input=None, rc=0):
        """Runs parse; asserts the exit code, that stderr is empty on success and that the state
        directory was not created. Returns stdout as bytes."""
        if isinstance(input, str):
            input = input.encode("utf-8")
        p = subprocess.run(agentlib.agent_command() + ["parse", "-c", cfg] + list(args), env=no_password_env(),
                           input=input, stdin=None if input is not None else subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        err = p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, rc, err)
        if rc == 0:
            self.assertEqual(err, "")
        self.assertFalse(os.path.exists(self.state), "parse created the state directory")
        return p.stdout

    def objects(self, out):
        self.assertTrue(out == b"" or out.endswith(b"\n"), out[-100:])
        return [json.loads(line) for line in out.decode("utf-8").split("\n")[:-1]]


class Events(ParseCase):
    def test_file_events_exact_bytes_and_pos_ids(self):
        lines = list(agentlib.purchase_lines(5, seed=4))
        content = ("\n".join(lines) + "\n").encode()
        log = self.write(content)
        out = self.parse(self.config(paths=[log]), [log])
        ids = agentlib.expected_pos_ids(content, NS, INPUT)
        expected = []
        for line, eid in zip(lines, ids):
            src = json.loads(line)
            expected.append(event_bytes(src["event"], {"order_id": src["order_id"], "currency": src["currency"],
                                                       "amount": src["amount"]},
                                        src["ts"], eid, src["install_id"]))
        self.assertEqual(out.decode().split("\n"), expected + [""])

    def test_ids_follow_event_id_pos_byte_offsets(self):
        lines = list(agentlib.purchase_lines(4, seed=9))
        content = ("\n".join(lines) + "\n").encode()
        log = self.write(content)
        got = [o["event_id"] for o in self.objects(self.parse(self.config(paths=[log]), [log]))]
        off, want = 0, []
        for line in lines:
            want.append(agentlib.event_id_pos(NS, INPUT, lines[0], off, line))
            off += len(line) + 1
        self.assertEqual(got, want)

    def test_stdin_dash_and_no_path_equal_the_file(self):
        content = ("\n".join(agentlib.purchase_lines(6, seed=2)) + "\n").encode()
        log = self.write(content)
        cfg = self.config(paths=[log])
        from_file = self.parse(cfg, [log])
        self.assertEqual(len(self.objects(from_file)), 6)
        self.assertEqual(self.parse(cfg, ["-"], input=content), from_file)
        self.assertEqual(self.parse(cfg, [], input=content), from_file)

    def test_large_input_across_read_chunks(self):
        # about 3 MiB: lines cross the agent's read-buffer boundaries, ids keep true offsets
        lines = list(agentlib.purchase_lines(20000, seed=11))
        content = ("\n".join(lines) + "\n").encode()
        self.assertGreater(len(content), 3 << 20)
        log = self.write(content)
        cfg = self.config(paths=[log])
        want = agentlib.expected_pos_ids(content, NS, INPUT)
        for args, stdin in (([log], None), (["-"], content)):
            objs = self.objects(self.parse(cfg, args, input=stdin))
            self.assertEqual([o.get("event_id") for o in objs], want)

    def test_empty_input_prints_nothing(self):
        self.assertEqual(self.parse(self.config(), [], input=b""), b"")

    def test_payload_types_and_key_order(self):
        line = ('{"ts":"2026-05-05T12:00:00Z","event":"purchase_completed","install_id":"%s",'
                '"n":7,"f":9.50,"neg":-3,"z":null,"b":false,"o":{"k":[1,"x"]},"s":"a\\"b\\\\c \\u00e9"}' % IID)
        cfg = self.config(input={"event": {"payload": ["s", "n", "f", "neg", "z", "b", "o"]}})
        out = self.parse(cfg, [], input=line + "\n")
        eid = agentlib.event_id_pos(NS, INPUT, line, 0, line)
        # numbers keep their text, strings are re-escaped, payload follows the configured order
        self.assertEqual(out.decode("utf-8"),
                         '{"event_name":"purchase_completed","payload":{"s":"a\\"b\\\\c \u00e9","n":7,"f":9.50,'
                         '"neg":-3,"z":null,"b":false,"o":{"k":[1,"x"]}},"event_datetime":"2026-05-05T12:00:00Z",'
                         '"event_id":"%s","installation_id":"%s"}\n' % (eid, IID))
        obj = self.objects(out)[0]
        self.assertEqual(list(obj), EVENT_KEYS)

    def test_payload_star_takes_the_fields_not_used_above(self):
        line = '{"ts":"2026-05-05T12:00:00Z","event":"purchase_completed","install_id":"%s","sku":"X1","qty":2}' % IID
        cfg = self.config(input={"event": {"payload": "*"}})
        obj = self.objects(self.parse(cfg, [], input=line + "\n"))[0]
        self.assertEqual(obj["payload"], {"sku": "X1", "qty": 2})
        self.assertEqual(list(obj["payload"]), ["sku", "qty"])

    def test_event_datetime_normalized_to_rfc3339_utc(self):
        cases = [
            ("2026-05-05T12:00:00Z", "2026-05-05T12:00:00Z"),
            ("2026-05-05T14:00:00+02:00", "2026-05-05T12:00:00Z"),
            ("2026-05-05T07:30:00-04:30", "2026-05-05T12:00:00Z"),
            ("2026-05-05T14:00:00.250+02:00", "2026-05-05T12:00:00.250Z"),
            ("2026-05-05T12:00:00.5Z", "2026-05-05T12:00:00.5Z"),
            ("2026-05-06T01:00:00+13:00", "2026-05-05T12:00:00Z"),
        ]
        text = "".join('{"ts":"%s","event":"purchase_completed","install_id":"%s"}\n' % (ts, IID)
                       for ts, _ in cases)
        objs = self.objects(self.parse(self.config(input={"event": {"payload": []}}), [], input=text))
        self.assertEqual([o.get("event_datetime") for o in objs], [want for _, want in cases], objs)

    def test_time_formats_unix_unix_ms_and_strptime_with_zone(self):
        def one(fmt, tz, ts):
            cfg = self.config(input={"event": {"payload": [], "time_format": fmt, "timezone": tz}})
            line = '{"ts":%s,"event":"purchase_completed","install_id":"%s"}\n' % (json.dumps(ts), IID)
            return self.objects(self.parse(cfg, [], input=line))[0].get("event_datetime")
        self.assertEqual(one("unix", "UTC", 1777982400), "2026-05-05T12:00:00Z")
        self.assertEqual(one("unix_ms", "UTC", 1777982400250), "2026-05-05T12:00:00.250Z")
        if os.path.exists("/usr/share/zoneinfo/Europe/Berlin"):
            # CEST in May (+02:00), CET in January (+01:00)
            self.assertEqual(one("%d/%b/%Y:%H:%M:%S", "Europe/Berlin", "05/May/2026:14:00:00"),
                             "2026-05-05T12:00:00Z")
            self.assertEqual(one("%d/%b/%Y:%H:%M:%S", "Europe/Berlin", "05/Jan/2026:14:00:00"),
                             "2026-01-05T13:00:00Z")

    def test_id_fields_give_key_ids(self):
        lines = list(agentlib.purchase_lines(3, seed=5))
        cfg = self.config(input={"event": {"id_fields": ["order_id", "currency"]}})
        objs = self.objects(self.parse(cfg, [], input="\n".join(lines) + "\n"))
        want = [agentlib.event_id_key(NS, "purchase_completed", [json.loads(l)["order_id"], "USD"]) for l in lines]
        self.assertEqual([o["event_id"] for o in objs], want)

    def test_key_ids_do_not_depend_on_position_or_file(self):
        lines = list(agentlib.purchase_lines(3, seed=5))
        cfg = self.config(input={"event": {"id_fields": ["order_id"]}})
        a = [o["event_id"] for o in self.objects(self.parse(cfg, [], input="\n".join(lines) + "\n"))]
        objs = self.objects(self.parse(cfg, [], input="junk\n" + "\n".join(reversed(lines)) + "\n"))
        self.assertIn("rejected", objs[0])
        self.assertEqual([o["event_id"] for o in objs[1:]], list(reversed(a)))

    def test_event_id_field_uuid4_sent_lowercased_other_value_is_a_business_key(self):
        upper = "6F1C0E8E-3B6F-4C1D-9A5E-1E2F3A4B5C6D"
        cfg = self.config(input={"event": {"event_id": "${eid}", "payload": []}})
        text = ('{"eid":"%s","ts":"2026-05-05T12:00:00Z","event":"Purchase_Completed","install_id":"%s"}\n'
                '{"eid":"ORD-77","ts":"2026-05-05T12:00:00Z","event":"Purchase_Completed","install_id":"%s"}\n'
                % (upper, IID, IID))
        objs = self.objects(self.parse(cfg, [], input=text))
        self.assertEqual(objs[0]["event_id"], upper.lower())
        # the event name is sent as logged; only the key lowercases it
        self.assertEqual(objs[1]["event_name"], "Purchase_Completed")
        self.assertEqual(objs[1]["event_id"], agentlib.event_id_key(NS, "Purchase_Completed", ["ORD-77"]))

    def test_namespace_is_part_of_the_id(self):
        line = next(agentlib.purchase_lines(1))
        cfg = self.config(agent={"id_namespace": "other-ns"})
        obj = self.objects(self.parse(cfg, [], input=line + "\n"))[0]
        self.assertEqual(obj["event_id"], agentlib.event_id_pos("other-ns", INPUT, line, 0, line))

    def test_final_line_without_lf_is_still_one_object(self):
        lines = list(agentlib.purchase_lines(2))
        content = (lines[0] + "\n" + lines[1]).encode()
        objs = self.objects(self.parse(self.config(), [], input=content))
        self.assertEqual(len(objs), 2)
        self.assertEqual(objs[1]["event_id"],
                         agentlib.event_id_pos(NS, INPUT, lines[0], len(lines[0]) + 1, lines[1]))


class CRLF(ParseCase):
    def test_crlf_file_ids_follow_the_spec(self):
        # SPEC: LINE drops the CR before the LF, the fingerprint of the first line keeps it
        lines = list(agentlib.purchase_lines(4, seed=1))
        content = b"".join(l.encode() + b"\r\n" for l in lines)
        log = self.write(content)
        objs = self.objects(self.parse(self.config(paths=[log]), [log]))
        self.assertEqual([o["event_id"] for o in objs], agentlib.expected_pos_ids(content, NS, INPUT))
        first = lines[0].encode()
        self.assertEqual(objs[0]["event_id"], agentlib.event_id_pos(NS, INPUT, first + b"\r", 0, first))

    def test_crlf_events_equal_lf_events_apart_from_ids(self):
        lines = list(agentlib.purchase_lines(3, seed=1))
        lf = self.objects(self.parse(self.config(), [], input="".join(l + "\n" for l in lines)))
        crlf = self.objects(self.parse(self.config(), [], input="".join(l + "\r\n" for l in lines)))
        for a, b in zip(lf, crlf):
            a.pop("event_id"), b.pop("event_id")
        self.assertEqual(lf, crlf)

    def test_cr_is_dropped_from_line_when_the_first_line_is_the_same(self):
        # same first line, same offset, line 2 once with CRLF and once with LF: the same id
        a, b = list(agentlib.purchase_lines(2, seed=8))
        ids_lf = [o["event_id"] for o in self.objects(self.parse(self.config(), [], input=a + "\n" + b + "\n"))]
        ids_crlf = [o["event_id"] for o in self.objects(self.parse(self.config(), [], input=a + "\n" + b + "\r\n"))]
        self.assertEqual(ids_lf, ids_crlf)
        self.assertEqual(ids_lf[1], agentlib.event_id_pos(NS, INPUT, a, len(a) + 1, b))


class Rejected(ParseCase):
    def test_not_json_is_rejected_with_the_line(self):
        good = next(agentlib.purchase_lines(1))
        text = good + "\nnot json at all\n" + good + "\n"
        objs = self.objects(self.parse(self.config(), [], input=text))
        self.assertEqual(len(objs), 3)
        self.assertEqual(list(objs[1]), ["rejected", "line"])
        self.assertEqual(objs[1]["line"], "not json at all")
        self.assertIsInstance(objs[1]["rejected"], str)
        self.assertTrue(objs[1]["rejected"])
        # a rejected line still occupies its offset: the next line's id uses its real offset
        self.assertEqual(objs[2]["event_id"],
                         agentlib.event_id_pos(NS, INPUT, good, len(good) + 1 + len("not json at all") + 1, good))

    def test_match_skips_lines(self):
        lines = list(agentlib.purchase_lines(2)) + list(agentlib.purchase_lines(1, event="refund_issued"))
        cfg = self.config(input={"match": {"event": "^purchase_"}})
        objs = self.objects(self.parse(cfg, [], input="\n".join(lines) + "\n"))
        self.assertEqual([sorted(o) for o in objs], [sorted(EVENT_KEYS)] * 2 + [["line", "skipped"]])
        self.assertEqual(list(objs[2]), ["skipped", "line"])
        self.assertEqual(objs[2]["line"], lines[2])
        self.assertTrue(objs[2]["skipped"])

    def test_invalid_installation_id_is_rejected(self):
        line = '{"ts":"2026-05-05T12:00:00Z","event":"purchase_completed","install_id":"not-a-uuid"}'
        objs = self.objects(self.parse(self.config(), [], input=line + "\n"))
        self.assertEqual(list(objs[0]), ["rejected", "line"])
        self.assertEqual(objs[0]["line"], line)

    def test_invalid_time_is_rejected(self):
        line = '{"ts":"yesterday","event":"purchase_completed","install_id":"%s"}' % IID
        objs = self.objects(self.parse(self.config(), [], input=line + "\n"))
        self.assertEqual(list(objs[0]), ["rejected", "line"])
        self.assertEqual(objs[0]["line"], line)

    def test_line_longer_than_max_line_bytes(self):
        good = next(agentlib.purchase_lines(1))
        long_line = '{"pad":"' + "y" * 3000 + '"}'
        text = good + "\n" + long_line + "\n" + good + "\n"
        objs = self.objects(self.parse(self.config(input={"max_line_bytes": "1KiB"}), [], input=text))
        self.assertEqual(len(objs), 3)
        self.assertEqual(sorted(objs[1]), ["length", "line", "rejected"])
        self.assertEqual(objs[1]["length"], len(long_line))
        self.assertEqual(objs[1]["line"], long_line[:1024])
        self.assertTrue(objs[1]["rejected"])
        # the rest goes on, with true byte offsets
        self.assertEqual(objs[2]["event_id"],
                         agentlib.event_id_pos(NS, INPUT, good, len(good) + 1 + len(long_line) + 1, good))

    def test_line_of_exactly_max_line_bytes_is_not_too_long(self):
        # 1024 bytes of line (LF not counted) with max_line_bytes 1KiB
        base = '{"ts":"2026-05-05T12:00:00Z","event":"purchase_completed","install_id":"%s","pad":"' % IID
        line = base + "p" * (1024 - len(base) - 2) + '"}'
        self.assertEqual(len(line), 1024)
        objs = self.objects(self.parse(self.config(input={"max_line_bytes": "1KiB"}), [], input=line + "\n"))
        self.assertIn("event_id", objs[0], objs[0])

    def test_long_first_line_fingerprint_is_its_first_4096_bytes(self):
        # the first line (5000 bytes) is rejected as too long, but the file's fingerprint is still the
        # SHA-256 of its first 4096 bytes, as `run` computes it
        first = b"z" * 5000
        good = next(agentlib.purchase_lines(1)).encode()
        content = first + b"\n" + good + b"\n"
        objs = self.objects(self.parse(self.config(input={"max_line_bytes": "1KiB"}), [], input=content))
        self.assertEqual(objs[1]["event_id"], agentlib.event_id_pos(NS, INPUT, first, 5001, good))

    def test_invalid_utf8_is_escaped_as_udcxx(self):
        raw = b'bad \xff\xfe line \xc3\x28 end'
        out = self.parse(self.config(), [], input=raw + b"\n")
        self.assertIn(b'"line":"bad \\udcff\\udcfe line \\udcc3( end"}\n', out)
        obj = self.objects(out)[0]
        # the escapes give the original bytes back
        self.assertEqual(obj["line"].encode("utf-8", "surrogateescape"), raw)

    def test_nul_byte_in_a_line(self):
        raw = b'{"a":1}\x00tail'
        out = self.parse(self.config(), [], input=raw + b"\n")
        obj = self.objects(out)[0]
        self.assertIn("rejected", obj)
        self.assertEqual(obj["line"], raw.decode())

    def test_empty_line_is_rejected(self):
        good = next(agentlib.purchase_lines(1))
        objs = self.objects(self.parse(self.config(), [], input=good + "\n\n" + good + "\n"))
        self.assertEqual(len(objs), 3)
        self.assertEqual(objs[1]["line"], "")
        self.assertIn("rejected", objs[1])
        self.assertEqual(objs[2]["event_id"], agentlib.event_id_pos(NS, INPUT, good, len(good) + 2, good))


class Inputs(ParseCase):
    def two_inputs(self):
        first = agentlib.default_input([self.path("a.log")], name="json-in")
        second = agentlib.default_input([self.path("b.log")], name="logfmt-in")
        second["parser"] = {"type": "logfmt"}
        return self.config(inputs=[first, second])

    def test_first_input_by_default(self):
        line = next(agentlib.purchase_lines(1))
        obj = self.objects(self.parse(self.two_inputs(), [], input=line + "\n"))[0]
        self.assertEqual(obj["event_id"], agentlib.event_id_pos(NS, "json-in", line, 0, line))

    def test_input_option_picks_the_input(self):
        line = "ts=2026-05-05T12:00:00Z event=purchase_completed install_id=%s order_id=A-1 currency=USD amount=9.99" % IID
        cfg = self.two_inputs()
        for args in (["--input", "logfmt-in"], ["--input=logfmt-in"], ["--input", "logfmt-in", "-"]):
            out = self.parse(cfg, args, input=line + "\n")
            self.assertEqual(out.decode(), event_bytes(
                "purchase_completed", {"order_id": "A-1", "currency": "USD", "amount": "9.99"},
                "2026-05-05T12:00:00Z", agentlib.event_id_pos(NS, "logfmt-in", line, 0, line), IID) + "\n")

    def test_unknown_input_name(self):
        cfg = self.two_inputs()
        p = subprocess.run(agentlib.agent_command() + ["parse", "-c", cfg, "--input", "nope"], env=no_password_env(),
                           input=b"x\n", stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stdout, b"")
        self.assertIn(b"nope", p.stderr)
        self.assertFalse(os.path.exists(self.state))

    def test_invalid_config(self):
        cfg = self.config(batch={"flush_interval": "soon"})
        p = subprocess.run(agentlib.agent_command() + ["parse", "-c", cfg], env=no_password_env(),
                           input=b"x\n", stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stdout, b"")
        lines = p.stderr.decode().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], r"^%s:\d+:\d+: batch\.flush_interval: " % cfg)

    def test_missing_path(self):
        missing = self.path("no-such.log")
        p = subprocess.run(agentlib.agent_command() + ["parse", "-c", self.config(), missing], env=no_password_env(),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, b"")
        self.assertIn(missing.encode(), p.stderr)


class NoStateNoCredentials(ParseCase):
    def test_no_credentials_and_no_state_dir(self):
        # no endpoint section at all, no password variable in the environment
        cfg = self.config()
        with open(cfg, encoding="utf-8") as f:
            text = f.read()
        self.assertNotIn("username", text)
        self.assertNotIn("password", text)
        content = ("\n".join(agentlib.purchase_lines(3)) + "\n").encode()
        log = self.write(content)
        objs = self.objects(self.parse(cfg, [log]))  # asserts the state dir does not exist
        self.assertEqual(len(objs), 3)
        self.assertFalse(os.path.exists(self.state))

    def test_existing_state_dir_is_left_untouched(self):
        os.mkdir(self.state)
        cfg = self.config()
        content = ("\n".join(agentlib.purchase_lines(3)) + "\n").encode()
        log = self.write(content)
        p = subprocess.run(agentlib.agent_command() + ["parse", "-c", cfg, log], env=no_password_env(),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(os.listdir(self.state), [])


# Equivalent lines in each built-in format (and the example plugin's key:value format).
FIELDS = {"ts": "2026-05-05T12:00:00Z", "event": "purchase_completed", "install_id": IID, "order_id": "A-1",
          "currency": "USD", "amount": "215.05"}
JSON_LINE = compact(FIELDS)
REGEX_LINE = "%(ts)s %(event)s install=%(install_id)s order=%(order_id)s %(currency)s %(amount)s" % FIELDS
REGEX = (r"^(?<ts>\S+) (?<event>\S+) install=(?<install_id>\S+) order=(?<order_id>\S+) "
         r"(?<currency>[A-Z]{3}) (?<amount>\S+)$")
LOGFMT_LINE = " ".join("%s=%s" % kv for kv in FIELDS.items())
CSV_COLUMNS = list(FIELDS)
CSV_LINE = ",".join(FIELDS.values())
KV_LINE = "|".join("%s:%s" % kv for kv in FIELDS.items())


class Parsers(ParseCase):
    def expected(self, line, key_ids):
        eid = (agentlib.event_id_key(NS, "purchase_completed", ["A-1"]) if key_ids
               else agentlib.event_id_pos(NS, INPUT, line, 0, line))
        return event_bytes("purchase_completed", {"order_id": "A-1", "currency": "USD", "amount": "215.05"},
                           "2026-05-05T12:00:00Z", eid, IID) + "\n"

    def run_parser(self, parser, line, key_ids):
        over = {"parser": parser}
        if key_ids:
            over["event"] = {"id_fields": ["order_id"]}
        out = self.parse(self.config(input=over), [], input=line + "\n")
        self.assertEqual(out.decode(), self.expected(line, key_ids))
        return out

    def check_parser(self, parser, line):
        self.run_parser(parser, line, key_ids=False)
        return self.run_parser(parser, line, key_ids=True)

    def test_json(self):
        self.check_parser({"type": "json"}, JSON_LINE)

    def test_regex(self):
        self.check_parser({"type": "regex", "pattern": REGEX}, REGEX_LINE)

    def test_logfmt(self):
        self.check_parser({"type": "logfmt"}, LOGFMT_LINE)

    def test_logfmt_quoted_values(self):
        line = " ".join('%s="%s"' % kv for kv in FIELDS.items())
        self.check_parser({"type": "logfmt"}, line)

    def test_csv(self):
        self.check_parser({"type": "csv", "columns": CSV_COLUMNS}, CSV_LINE)

    def test_csv_semicolon_and_quotes(self):
        line = ";".join('"%s"' % v for v in FIELDS.values())
        self.check_parser({"type": "csv", "columns": CSV_COLUMNS, "delimiter": ";"}, line)

    def test_all_formats_give_the_same_event_with_key_ids(self):
        outs = {
            "json": self.run_parser({"type": "json"}, JSON_LINE, True),
            "regex": self.run_parser({"type": "regex", "pattern": REGEX}, REGEX_LINE, True),
            "logfmt": self.run_parser({"type": "logfmt"}, LOGFMT_LINE, True),
            "csv": self.run_parser({"type": "csv", "columns": CSV_COLUMNS}, CSV_LINE, True),
        }
        self.assertEqual(len(set(outs.values())), 1, outs)

    def test_regex_non_matching_line_is_rejected(self):
        out = self.parse(self.config(input={"parser": {"type": "regex", "pattern": REGEX}}), [],
                         input="something else\n")
        obj = self.objects(out)[0]
        self.assertEqual(list(obj), ["rejected", "line"])
        self.assertEqual(obj["line"], "something else")

    def test_csv_header_line_is_skipped_not_rejected(self):
        cfg = self.config(input={"parser": {"type": "csv", "columns": CSV_COLUMNS, "header": True}})
        text = ",".join(CSV_COLUMNS) + "\n" + CSV_LINE + "\n"
        objs = self.objects(self.parse(cfg, [], input=text))
        self.assertEqual(len(objs), 2)
        self.assertIn("skipped", objs[0])
        self.assertEqual(objs[0]["line"], ",".join(CSV_COLUMNS))
        header = ",".join(CSV_COLUMNS)
        self.assertEqual(objs[1]["event_id"],
                         agentlib.event_id_pos(NS, INPUT, header, len(header) + 1, CSV_LINE))

    def test_example_plugin(self):
        so = plugin("libonside-kv.so")
        if so is None:
            self.skipTest("no libonside-kv.so in $ONSIDE_PLUGIN_DIR")
        self.check_parser({"type": "plugin", "path": so}, KV_LINE)

    def test_example_plugin_with_separator_option_and_bad_line(self):
        so = plugin("libonside-kv.so")
        if so is None:
            self.skipTest("no libonside-kv.so in $ONSIDE_PLUGIN_DIR")
        line = ";".join("%s:%s" % kv for kv in FIELDS.items())
        self.check_parser({"type": "plugin", "path": so, "options": {"separator": ";"}}, line)
        out = self.parse(self.config(input={"parser": {"type": "plugin", "path": so}}), [],
                         input="no colon here\n")
        obj = self.objects(out)[0]
        self.assertEqual(list(obj), ["rejected", "line"])
        self.assertEqual(obj["line"], "no colon here")

    def test_plugin_writable_by_others_is_refused(self):
        so = plugin("libonside-kv.so")
        if so is None:
            self.skipTest("no libonside-kv.so in $ONSIDE_PLUGIN_DIR")
        copy = self.path("libonside-kv-copy.so")
        shutil.copyfile(so, copy)
        os.chmod(copy, 0o777)
        cfg = self.config(input={"parser": {"type": "plugin", "path": copy}})
        p = subprocess.run(agentlib.agent_command() + ["parse", "-c", cfg], env=no_password_env(),
                           input=(KV_LINE + "\n").encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stdout, b"")
        self.assertIn(copy.encode(), p.stderr)
        os.chmod(copy, 0o755)
        self.check_parser({"type": "plugin", "path": copy}, KV_LINE)

    def test_plugin_with_wrong_abi_is_refused(self):
        so = plugin("libonside-badabi.so")
        if so is None:
            self.skipTest("no libonside-badabi.so in $ONSIDE_PLUGIN_DIR")
        cfg = self.config(input={"parser": {"type": "plugin", "path": so}})
        p = subprocess.run(agentlib.agent_command() + ["parse", "-c", cfg], env=no_password_env(),
                           input=(KV_LINE + "\n").encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stdout, b"")
        self.assertIn(so.encode(), p.stderr)


class SameIdsAsRun(agentlib.AgentTestCase):
    """parse and `run --once` derive the same ids for the same file."""

    def compare(self, content, expected_ids=None, **overrides):
        log = self.path("purchases.log")
        with open(log, "wb") as f:
            f.write(content)
        cfg = self.config(paths=[log], **overrides)
        rc, out, err = agentlib.run_agent(["parse", "-c", cfg, log], env=self.env())
        self.assertEqual(rc, 0, err)
        parsed = [o for o in map(json.loads, out.splitlines()) if "event_id" in o]
        rc, _, err = agentlib.run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        sent = self.standin.events()
        if expected_ids is not None:
            self.assertEqual(sorted(e["event_id"] for e in sent), sorted(expected_ids), "run's ids")
            self.assertEqual([o["event_id"] for o in parsed], expected_ids, "parse's ids")
        self.assertEqual(sorted(e["event_id"] for e in sent), sorted(o["event_id"] for o in parsed))
        by_id = {e["event_id"]: e for e in sent}
        for o in parsed:
            self.assertEqual(by_id[o["event_id"]], o)

    def test_lf_file(self):
        content = ("\n".join(agentlib.purchase_lines(20, seed=3)) + "\n").encode()
        self.compare(content, agentlib.expected_pos_ids(content, NS, INPUT))

    def test_crlf_file(self):
        content = b"".join(l.encode() + b"\r\n" for l in agentlib.purchase_lines(20, seed=3))
        self.compare(content, agentlib.expected_pos_ids(content, NS, INPUT))

    def test_first_line_longer_than_max_line_bytes(self):
        # run dead-letters the first line but fingerprints the file by its first 4096 bytes
        first = b'{"pad":"' + b"q" * 6000 + b'"}'
        lines = [l.encode() for l in agentlib.purchase_lines(5, seed=7)]
        content = first + b"\n" + b"".join(l + b"\n" for l in lines)
        self.compare(content, agentlib.expected_pos_ids(content, NS, INPUT)[1:], input={"max_line_bytes": "1KiB"})

    def test_key_ids(self):
        lines = list(agentlib.purchase_lines(10, seed=6))
        content = ("\n".join(lines) + "\n").encode()
        self.compare(content, [agentlib.event_id_key(NS, "purchase_completed", [json.loads(l)["order_id"]])
                               for l in lines], input={"event": {"id_fields": ["order_id"]}})


if __name__ == "__main__":
    agentlib.main()
