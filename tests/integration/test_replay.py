#!/usr/bin/env python3
"""`onside-agent replay` through the real binary against the API stand-in.

Lines that could not become events are dead-lettered; once the configuration is fixed, `replay` feeds
them through it again, with their input, file and offset, so that each event has exactly the id the
line would have had (the file's first-line fingerprint is in each record; an older record without it
is matched against its file). Records delivered (or now skipped by the configuration) move to
dead-letter.replayed.jsonl and are not replayed twice; the others stay byte for byte. --input and
--reason choose records; --dry-run prints what would be sent and changes nothing; replay refuses to run
while an agent holds the state directory.
"""

import copy
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib  # noqa: E402
from agentlib import deadletters, expected_pos_ids, purchase_lines, run_agent, wait_for  # noqa: E402

DL = "dead-letter.jsonl"
REPLAYED = "dead-letter.replayed.jsonl"


def renamed(lines, field, new, which):
    """lines with field renamed to new in the lines whose index is in which."""
    out = []
    for i, line in enumerate(lines):
        d = json.loads(line)
        if i in which:
            d[new] = d.pop(field)
        out.append(json.dumps(d, separators=(",", ":")))
    return out


class Replay(agentlib.AgentTestCase):
    def setUp(self):
        super().setUp()
        self.state = self.path("state")

    def cfg(self, name="agent.yaml", iid="${install_id}", **over):
        over.setdefault("paths", [self.path("purchases.log")])
        over.setdefault("state_dir", self.state)
        inp = copy.deepcopy(over.pop("input", {}))
        inp.setdefault("event", {})["installation_id"] = iid
        return self.config(name=name, input=inp, **over)

    def once(self, cfg, rc=0):
        r, out, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(r, rc, err)
        return err

    def replay(self, cfg, *args, rc=0):
        r, out, err = run_agent(["replay", "-c", cfg] + list(args), env=self.env())
        self.assertEqual(r, rc, out + err)
        return out, err

    def file_bytes(self, name):
        p = os.path.join(self.state, name)
        if not os.path.exists(p):
            return None
        with open(p, "rb") as f:
            return f.read()

    def replayed(self):
        data = self.file_bytes(REPLAYED)
        return [json.loads(x) for x in data.decode().splitlines()] if data else []

    def dead_lettered_log(self, n=10, odd=True):
        """A log whose odd lines (by index) name the installation id uid: the first configuration
        dead-letters them. Returns (log, the indexes dead-lettered)."""
        which = {i for i in range(n) if i % 2 == 1} if odd else set(range(n))
        log = self.write_log(renamed(purchase_lines(n, seed=60), "install_id", "uid", which))
        return log, sorted(which)


class Delivery(Replay):
    def test_replayed_lines_get_exactly_the_ids_they_would_have_had(self):
        log, which = self.dead_lettered_log()
        self.once(self.cfg())
        before = deadletters(self.state)
        self.assertEqual([r["reason"] for r in before], ["missing field install_id"] * 5)
        self.assertTrue(all(len(r["fingerprint"]) == 64 for r in before))
        self.assertEqual(len(self.standin.events()), 5)
        out, err = self.replay(self.cfg(name="fixed.yaml", iid="${uid}"))
        ids = expected_pos_ids(log)
        self.assertEqual(sorted(self.standin.event_ids()), sorted(ids))
        self.assertEqual(self.standin.event_ids()[5:], [ids[i] for i in which])
        self.assertEqual(out, "replay: 5 records in the dead-letter file, 5 chosen: 5 delivered, 0 skipped now, "
                              "0 still rejected, 0 not replayable, 0 not sent\n"
                              "moved 5 records to %s/%s\n" % (self.state, REPLAYED))
        self.assertEqual(self.file_bytes(DL), b"")
        moved = self.replayed()
        self.assertEqual([{k: v for k, v in r.items() if k not in ("replayed", "outcome", "event_id")}
                          for r in moved], before)
        self.assertEqual([(r["outcome"], r["event_id"]) for r in moved], [("delivered", ids[i]) for i in which])
        self.assertTrue(all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", r["replayed"]) for r in moved))

    def test_a_second_replay_sends_nothing(self):
        self.dead_lettered_log()
        self.once(self.cfg())
        fixed = self.cfg(name="fixed.yaml", iid="${uid}")
        self.replay(fixed)
        requests = self.standin.stats()["requests"]
        out, _ = self.replay(fixed)
        self.assertTrue(out.startswith("replay: 0 records in the dead-letter file, 0 chosen: 0 delivered"), out)
        self.assertEqual(self.standin.stats()["requests"], requests)
        self.assertEqual(len(self.replayed()), 5)

    def test_records_whose_line_still_fails_stay_byte_for_byte(self):
        lines = renamed(purchase_lines(6, seed=61), "install_id", "uid", {1, 2})
        lines = renamed(lines, "install_id", "user", {4})
        log = self.write_log(lines)
        self.once(self.cfg())
        with open(os.path.join(self.state, DL), "rb") as f:
            records = f.read().splitlines(keepends=True)
        self.assertEqual(len(records), 3)
        out, _ = self.replay(self.cfg(name="fixed.yaml", iid="${uid}"))
        self.assertEqual(self.file_bytes(DL), records[2])  # the "user" line, as it was
        self.assertIn("1 still rejected", out)
        self.assertIn("  still rejected: 1\n    missing field uid: 1, first at %s offset %d\n"
                      % (log, json.loads(records[2])["offset"]), out)
        ids = expected_pos_ids(log)
        self.assertEqual(self.standin.event_ids()[3:], [ids[1], ids[2]])

    def test_lines_the_configuration_now_skips_move_too(self):
        lines = renamed(purchase_lines(4, seed=62), "install_id", "uid", {1, 3})
        lines[3] = lines[3].replace("purchase_completed", "page_view")
        self.write_log(lines)
        self.once(self.cfg())
        out, _ = self.replay(self.cfg(name="fixed.yaml", iid="${uid}", input={"match": {"event": "^purchase_"}}))
        self.assertIn("1 delivered, 1 skipped now", out)
        self.assertEqual(self.file_bytes(DL), b"")
        self.assertEqual([r["outcome"] for r in self.replayed()], ["delivered", "skipped"])
        self.assertTrue(self.replayed()[1]["skipped"].startswith("match"), self.replayed()[1])

    def test_server_rejections_are_replayed_once_the_server_takes_them(self):
        log = self.write_log(purchase_lines(6, seed=63))
        ids = expected_pos_ids(log)
        self.standin.control(reject_ids=[ids[1], ids[4]])
        self.once(self.cfg())
        self.assertEqual([(r["status"], r["reason"]) for r in deadletters(self.state)],
                         [(400, "rejected by the server (HTTP 400)")] * 2)
        # while the server still rejects them they stay
        out, _ = self.replay(self.cfg())
        self.assertIn("2 still rejected", out)
        self.assertEqual(len(deadletters(self.state)), 2)
        self.standin.control(reject_ids=[])
        out, _ = self.replay(self.cfg())
        self.assertIn("2 delivered", out)
        self.assertEqual(sorted(self.standin.event_ids()), sorted(ids))
        self.assertEqual(deadletters(self.state), [])

    def test_a_line_cut_at_max_line_bytes_is_read_whole_from_its_file(self):
        lines = list(purchase_lines(3, seed=64))
        d = json.loads(lines[1])
        d["note"] = "x" * 3000
        lines[1] = json.dumps(d, separators=(",", ":"))
        log = self.write_log(lines)
        self.once(self.cfg(input={"max_line_bytes": "1KiB"}))
        rec = deadletters(self.state)
        self.assertEqual((len(rec), rec[0]["length"], len(rec[0]["line"])), (1, len(lines[1]), 1024))
        out, _ = self.replay(self.cfg(name="wide.yaml", input={"max_line_bytes": "8KiB"}))
        self.assertIn("1 delivered", out)
        self.assertEqual(sorted(self.standin.event_ids()), sorted(expected_pos_ids(log)))

    def test_a_csv_header_is_read_from_the_recorded_file(self):
        rows = ["ts,event,install_id,amount"] + ["2026-05-05T12:00:0%d,purchase_completed,%s,%d.00" % (
            i, json.loads(line)["install_id"], i) for i, line in enumerate(purchase_lines(4, seed=65))]
        log = self.write_log(rows, name="purchases.csv")
        csv = {"paths": [log], "input": {"parser": {"type": "csv", "header": True},
                                         "event": {"event_datetime": "${ts}Z", "payload": ["amount"]}}}
        self.once(self.cfg(iid="${install}", **csv))
        self.assertEqual(len(deadletters(self.state)), 4)
        out, _ = self.replay(self.cfg(name="fixed.yaml", iid="${install_id}", **csv))
        self.assertIn("4 delivered", out)
        self.assertEqual(self.standin.event_ids(), expected_pos_ids(log)[1:])
        self.assertEqual([e["payload"] for e in self.standin.events()], [{"amount": "%d.00" % i} for i in range(4)])


class OldRecords(Replay):
    def strip_fingerprints(self):
        p = os.path.join(self.state, DL)
        with open(p) as f:
            recs = [json.loads(x) for x in f]
        with open(p, "w") as f:
            for r in recs:
                del r["fingerprint"]
                f.write(json.dumps(r, separators=(",", ":")) + "\n")

    def test_a_record_without_a_fingerprint_takes_its_files_when_the_file_still_holds_the_line(self):
        log, which = self.dead_lettered_log(6)
        self.once(self.cfg())
        self.strip_fingerprints()
        out, _ = self.replay(self.cfg(name="fixed.yaml", iid="${uid}"))
        self.assertIn("3 delivered", out)
        ids = expected_pos_ids(log)
        self.assertEqual(self.standin.event_ids()[3:], [ids[i] for i in which])

    def test_a_record_without_a_fingerprint_whose_file_changed_stays(self):
        log, _ = self.dead_lettered_log(4)
        self.once(self.cfg())
        self.strip_fingerprints()
        before = self.file_bytes(DL)
        os.rename(log, log + ".1")  # rotated: a new file in its place
        self.write_log(purchase_lines(4, seed=66))
        out, _ = self.replay(self.cfg(name="fixed.yaml", iid="${uid}"))
        self.assertIn("0 delivered, 0 skipped now, 0 still rejected, 2 not replayable", out)
        self.assertIn("  not replayable: 2\n    the record has no fingerprint (it is older than that key), and %s "
                      "is no longer the file the record came from: 2, first at %s offset " % (log, log), out)
        self.assertEqual(self.file_bytes(DL), before)

    def test_a_record_of_an_input_no_longer_configured_stays(self):
        self.dead_lettered_log(4)
        self.once(self.cfg())
        before = self.file_bytes(DL)
        out, _ = self.replay(self.cfg(name="renamed.yaml", iid="${uid}", input={"name": "other"}))
        self.assertIn("2 not replayable", out)
        self.assertIn('    input "purchases" is not in the configuration: 2', out)
        self.assertEqual(self.file_bytes(DL), before)


class ReplayBatches(Replay):
    """Replay sends in batches as `run` does: at most batch.max_events events and batch.max_bytes
    bytes a request."""

    def requests_of(self, cfg):
        before = (self.standin.stats()["requests"], len(self.standin.events()))
        out, _ = self.replay(cfg)
        return out, self.standin.stats()["requests"] - before[0], len(self.standin.events()) - before[1]

    def test_max_events_a_request(self):
        log, which = self.dead_lettered_log(12, odd=False)
        self.once(self.cfg())
        out, requests, events = self.requests_of(self.cfg(name="fixed.yaml", iid="${uid}", batch={"max_events": 5}))
        self.assertIn("12 delivered", out)
        self.assertEqual((requests, events), (3, 12))  # 5 + 5 + 2
        # each once (requests in flight together may arrive in any order: max_in_flight is auto)
        self.assertEqual(sorted(self.standin.event_ids()[-12:]), sorted(expected_pos_ids(log)))

    def test_max_bytes_a_request(self):
        lines = []
        for i, line in enumerate(purchase_lines(8, seed=68)):
            d = json.loads(line)
            d["uid"] = d.pop("install_id")
            d["note"] = "z" * 300
            lines.append(json.dumps(d, separators=(",", ":")))
        log = self.write_log(lines)
        payload = {"event": {"payload": ["note"]}}
        self.once(self.cfg(input=payload))
        self.assertEqual(len(deadletters(self.state)), 8)
        sent = self.standin.stats()["bytes_received"]
        out, requests, events = self.requests_of(self.cfg(name="fixed.yaml", iid="${uid}", input=payload,
                                                          batch={"max_bytes": "1KiB"}))
        sent = self.standin.stats()["bytes_received"] - sent
        self.assertIn("8 delivered", out)
        self.assertEqual(events, 8)
        self.assertGreaterEqual(requests, 3)  # about 400 bytes an event: no more than 2 in 1 KiB
        self.assertLessEqual(sent, requests * 1024)  # on average under max_bytes (each is, in run's tests)
        self.assertEqual(sorted(self.standin.event_ids()), sorted(expected_pos_ids(log)))

    def test_an_event_larger_than_max_bytes_is_still_rejected(self):
        lines = []
        for i, line in enumerate(purchase_lines(3, seed=69)):
            d = json.loads(line)
            d["uid"] = d.pop("install_id")
            d["note"] = ("w" * 2000) if i == 1 else "short"
            lines.append(json.dumps(d, separators=(",", ":")))
        log = self.write_log(lines)
        payload = {"event": {"payload": ["note"]}}
        self.once(self.cfg(input=payload))
        before = self.file_bytes(DL)
        sent = self.standin.stats()["bytes_received"]
        out, requests, events = self.requests_of(self.cfg(name="fixed.yaml", iid="${uid}", input=payload,
                                                          batch={"max_bytes": "1KiB"}))
        sent = self.standin.stats()["bytes_received"] - sent
        self.assertIn("2 delivered, 0 skipped now, 1 still rejected, 0 not replayable", out)
        self.assertIn("  still rejected: 1\n    event larger than batch.max_bytes: 1, first at %s "
                      "offset " % log, out)
        ids = expected_pos_ids(log)
        self.assertEqual(self.standin.event_ids(), [ids[0], ids[2]])
        self.assertEqual(len(deadletters(self.state)), 1)
        self.assertEqual(deadletters(self.state)[0]["offset"], len(lines[0]) + 1)


class RecordsReplayCannotTrust(Replay):
    """A record whose line replay would have to read again from its file, or that does not say what
    the agent writes, stays where it is, with the reason."""

    def cut_record(self):
        lines = list(purchase_lines(3, seed=67))
        d = json.loads(lines[1])
        d["note"] = "y" * 3000
        lines[1] = json.dumps(d, separators=(",", ":"))
        log = self.write_log(lines)
        self.once(self.cfg(input={"max_line_bytes": "1KiB"}))
        self.assertEqual([r["length"] for r in deadletters(self.state)], [len(lines[1])])
        return log, len(lines[1])

    def test_a_cut_line_whose_file_is_gone_stays(self):
        log, _ = self.cut_record()
        before = self.file_bytes(DL)
        os.unlink(log)
        out, _ = self.replay(self.cfg(name="wide.yaml", input={"max_line_bytes": "8KiB"}))
        self.assertIn("0 delivered, 0 skipped now, 0 still rejected, 1 not replayable", out)
        self.assertIn("    the line was cut at max_line_bytes, and %s cannot be opened: No such file or directory: 1, "
                      "first at %s offset " % (log, log), out)
        self.assertEqual(self.file_bytes(DL), before)
        self.assertEqual(len(self.standin.event_ids()), 2)  # the two lines run --once sent, no more

    def test_a_cut_line_whose_file_was_replaced_stays(self):
        log, n = self.cut_record()
        before = self.file_bytes(DL)
        # the same bytes at the same place, but another file (its first line differs)
        with open(log, "rb") as f:
            data = f.read()
        first = data.index(b"\n")
        with open(log, "wb") as f:
            f.write(b"#" * first + data[first:])
        out, _ = self.replay(self.cfg(name="wide.yaml", input={"max_line_bytes": "8KiB"}))
        self.assertIn("1 not replayable", out)
        self.assertIn("    the line was cut at max_line_bytes, and %s is no longer the file the record came from: 1"
                      % log, out)
        self.assertEqual(self.file_bytes(DL), before)
        self.assertEqual(len(self.standin.event_ids()), 2)  # the two lines run --once sent, no more

    def test_a_line_longer_than_max_line_bytes_now_is_still_rejected(self):
        log, n = self.cut_record()
        before = self.file_bytes(DL)
        out, _ = self.replay(self.cfg(name="same.yaml", input={"max_line_bytes": "1KiB"}))
        self.assertIn("1 still rejected", out)
        self.assertIn("  still rejected: 1\n    line longer than max_line_bytes: 1, first at %s offset " % log, out)
        self.assertEqual(self.file_bytes(DL), before)
        self.assertEqual(len(self.standin.event_ids()), 2)

    def test_a_fingerprint_that_is_not_hex_is_not_trusted(self):
        self.dead_lettered_log(4)
        self.once(self.cfg())
        p = os.path.join(self.state, DL)
        with open(p) as f:
            recs = [json.loads(x) for x in f]
        recs[0]["fingerprint"] = recs[0]["fingerprint"].upper()
        with open(p, "w") as f:
            for r in recs:
                f.write(json.dumps(r, separators=(",", ":")) + "\n")
        out, _ = self.replay(self.cfg(name="fixed.yaml", iid="${uid}"))
        self.assertIn("1 delivered, 0 skipped now, 0 still rejected, 1 not replayable", out)
        self.assertIn("    the record's fingerprint is not 64 lowercase hex digits: 1", out)
        with open(p) as f:
            self.assertEqual([json.loads(x) for x in f], recs[:1])


class Choosing(Replay):
    def test_input_and_reason_choose_the_records(self):
        a, _ = self.dead_lettered_log(4)
        b = self.write_log(renamed(purchase_lines(4, seed=67), "install_id", "uid", {0}), name="b.log")
        lines = list(purchase_lines(2, seed=68))
        lines[0] = json.dumps(dict(json.loads(lines[0]), note="y" * 2000))
        c = self.write_log(lines, name="c.log")
        inputs = [dict(agentlib.default_input([p], name=n), max_line_bytes="1KiB") for p, n in
                  ((a, "a"), (b, "b"), (c, "c"))]
        for i in inputs:
            i["event"]["installation_id"] = "${install_id}"
        self.once(self.config(paths=[a], state_dir=self.state, inputs=inputs))
        self.assertEqual(sorted(r["input"] for r in deadletters(self.state)), ["a", "a", "b", "c"])
        for i in inputs:
            i["event"]["installation_id"] = "${install_id}" if i["name"] == "c" else "${uid}"
            i["max_line_bytes"] = "8KiB"
        fixed = self.config(name="fixed.yaml", paths=[a], state_dir=self.state, inputs=inputs)
        out, _ = self.replay(fixed, "--input", "b")
        self.assertIn("4 records in the dead-letter file, 1 chosen: 1 delivered", out)
        self.assertEqual(self.standin.event_ids()[-1], expected_pos_ids(b, input_name="b")[0])
        out, _ = self.replay(fixed, "--reason", "^line longer")
        self.assertIn("3 records in the dead-letter file, 1 chosen", out)
        self.assertIn("1 delivered", out)
        self.assertEqual(self.standin.event_ids()[-1], expected_pos_ids(c, input_name="c")[0])
        self.assertEqual(sorted(r["input"] for r in deadletters(self.state)), ["a", "a"])
        self.assertEqual([r["input"] for r in self.replayed()], ["b", "c"])

    def test_an_unknown_input_or_a_bad_regex_is_a_usage_error(self):
        self.dead_lettered_log(2)
        cfg = self.cfg()
        self.once(cfg)
        _, err = self.replay(cfg, "--input", "nope", rc=2)
        self.assertIn('--input: no input named "nope" in %s' % cfg, err)
        _, err = self.replay(cfg, "--reason", "(unclosed", rc=2)
        self.assertIn("--reason: invalid regex at offset 9: missing closing parenthesis", err)

    def test_the_rotated_dead_letter_file_is_replayed_too(self):
        log, which = self.dead_lettered_log(4)
        self.once(self.cfg())
        os.rename(os.path.join(self.state, DL), os.path.join(self.state, DL + ".1"))
        more = self.write_log(renamed(purchase_lines(2, seed=69), "install_id", "uid", {0, 1}), name="more.log")
        self.once(self.cfg(name="both.yaml", paths=[log, more]))
        out, _ = self.replay(self.cfg(name="fixed.yaml", iid="${uid}", paths=[log, more]))
        self.assertIn("4 records in the dead-letter files, 4 chosen: 4 delivered", out)
        self.assertFalse(os.path.exists(os.path.join(self.state, DL + ".1")))
        self.assertEqual(self.file_bytes(DL), b"")
        self.assertEqual([r["path"] for r in self.replayed()], [log, log, more, more])


class Safety(Replay):
    def test_dry_run_prints_what_would_be_sent_and_changes_nothing(self):
        lines = renamed(purchase_lines(4, seed=70), "install_id", "uid", {0, 1, 2})
        lines[2] = lines[2].replace('"uid"', '"user"')
        log = self.write_log(lines)
        self.once(self.cfg())
        before = self.file_bytes(DL)
        requests = self.standin.stats()["requests"]
        out, err = self.replay(self.cfg(name="fixed.yaml", iid="${uid}"), "--dry-run")
        printed = [json.loads(x) for x in out.splitlines()]
        ids = expected_pos_ids(log)
        self.assertEqual([p.get("event_id") for p in printed[:2]], ids[:2])
        self.assertEqual(printed[2], {"rejected": "missing field uid", "line": lines[2]})
        self.assertEqual(self.file_bytes(DL), before)
        self.assertIsNone(self.file_bytes(REPLAYED))
        self.assertEqual(self.standin.stats()["requests"], requests)

    def test_replay_refuses_while_an_agent_holds_the_state_directory(self):
        log, _ = self.dead_lettered_log(4)
        cfg = self.cfg()
        proc = self.start_agent(["run", "-c", cfg])
        wait_for(lambda: len(deadletters(self.state)) == 2 and len(self.standin.events()) == 2,
                 message="the agent's first pass")
        before = self.file_bytes(DL)
        _, err = self.replay(self.cfg(name="fixed.yaml", iid="${uid}"), rc=1)
        self.assertIn("state directory %s is in use by process %d" % (self.state, proc.pid), err)
        self.assertIn("replay needs the state directory to itself: stop the agent first", err)
        self.assertEqual(self.file_bytes(DL), before)
        # --dry-run only reads: it works beside the agent
        out, _ = self.replay(self.cfg(name="fixed.yaml", iid="${uid}"), "--dry-run")
        self.assertEqual(len(out.splitlines()), 2)
        agentlib.stop_agent(proc)
        out, _ = self.replay(self.cfg(name="fixed.yaml", iid="${uid}"))
        self.assertIn("2 delivered", out)
        self.assertEqual(sorted(self.standin.event_ids()), sorted(expected_pos_ids(log)))

    def test_refused_credentials_stop_replay_and_the_records_stay(self):
        self.dead_lettered_log(4)
        cfg = self.cfg()
        self.once(cfg)
        before = self.file_bytes(DL)
        env = self.env()
        env[agentlib.PASSWORD_ENV] = "Wrong-77"
        r, out, err = run_agent(["replay", "-c", self.cfg(name="fixed.yaml", iid="${uid}")], env=env)
        self.assertEqual(r, 1, out + err)
        self.assertIn("replay stopped: the API answered HTTP 403 three times in a row (the credentials are refused",
                      err)
        self.assertIn("2 not sent", out)
        self.assertEqual(self.file_bytes(DL), before)


if __name__ == "__main__":
    agentlib.main()
