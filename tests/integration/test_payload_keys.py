#!/usr/bin/env python3
"""Payload members through the real binary against the stand-in (which refuses a key given twice, as
the API does): a field name a line gives twice is sent once, with its last value, by every parser;
`payload: "*"` keeps a literal dotted key next to an object; a plugin's NUMBER, BOOL, NULL and JSON
values are checked before they reach the request."""
import os

import agentlib
from agentlib import deadletters, run_agent

IID = "550e8400-e29b-41d4-a716-446655440000"
TS = "2026-05-05T12:00:00Z"
TEMPLATES = {"event_name": "${event}", "event_datetime": "${ts}", "installation_id": "${iid}"}


def plugin(name):
    """The absolute path of a built plugin in $ONSIDE_PLUGIN_DIR, or None when it is not there."""
    d = agentlib.plugin_dir()
    so = os.path.abspath(os.path.join(d, name)) if d else None
    return so if so and os.path.exists(so) else None


class Case(agentlib.AgentTestCase):
    def deliver(self, lines, parser, payload="*", **event):
        """Runs `run --once` over lines; returns (events the stand-in accepted, dead-letter records)."""
        log = self.write_log(lines)
        ev = dict(TEMPLATES, payload=payload, **event)
        cfg = self.config(paths=[log], input={"parser": parser, "event": ev})
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        return self.standin.events(), deadletters(self.path("state"))

    def payloads(self, lines, parser, payload="*", **event):
        """The payloads delivered, after checking that nothing was dead-lettered."""
        events, dead = self.deliver(lines, parser, payload, **event)
        self.assertEqual(dead, [])
        return [e["payload"] for e in events]

    def plugin(self, name):
        agentlib.skip_unless_plugins_load()
        so = plugin(name)
        if so is None:
            self.skipTest("no %s in $ONSIDE_PLUGIN_DIR" % name)
        return {"type": "plugin", "path": so}


class RepeatedNames(Case):
    """A name given twice in one line: the last value wins, as in a JSON object, for every parser."""

    def test_logfmt_repeated_key_is_sent_once_with_its_last_value(self):
        line = "ts=%s event=purchase iid=%s amount=1 currency=EUR amount=2" % (TS, IID)
        self.assertEqual(self.payloads([line], {"type": "logfmt"}), [{"amount": "2", "currency": "EUR"}])

    def test_csv_header_naming_two_columns_alike_sends_the_last_column(self):
        lines = ["ts,event,iid,amount,currency,amount", "%s,purchase,%s,1.00,EUR,2.00" % (TS, IID)]
        self.assertEqual(self.payloads(lines, {"type": "csv", "header": True}),
                         [{"amount": "2.00", "currency": "EUR"}])

    def test_regex_duplicate_group_names_send_the_last_group(self):
        pattern = r"(?J)^(?<ts>\S+) (?<event>\S+) (?<iid>\S+) (?<amount>\d+) (?<amount>\d+)$"
        line = "%s purchase %s 1 2" % (TS, IID)
        self.assertEqual(self.payloads([line], {"type": "regex", "pattern": pattern}), [{"amount": "2"}])

    def test_plugin_repeated_key_is_sent_once_with_its_last_value(self):
        line = "ts:%s|event:purchase|iid:%s|amount:1|amount:2" % (TS, IID)
        self.assertEqual(self.payloads([line], self.plugin("libonside-kv.so")), [{"amount": "2"}])

    def test_json_repeated_key_keeps_the_last_value(self):
        line = '{"ts":"%s","event":"purchase","iid":"%s","amount":1,"amount":2}' % (TS, IID)
        self.assertEqual(self.payloads([line], {"type": "json"}), [{"amount": 2}])

    def test_templates_lists_and_ids_take_the_last_value_too(self):
        line = ("ts=%s event=draft iid=%s order=A-1 amount=1 event=purchase order=A-2 amount=2"
                % (TS, IID))
        events, dead = self.deliver([line], {"type": "logfmt"}, payload=["amount"], id_fields=["order"])
        self.assertEqual(dead, [])
        self.assertEqual(events, [{
            "event_name": "purchase", "payload": {"amount": "2"}, "event_datetime": TS,
            "event_id": agentlib.event_id_key("test-ns", "purchase", ["A-2"]), "installation_id": IID}])
        self.assertEqual(self.standin.events(), events)
        mapped = self.payloads([line.replace("A-", "B-")], {"type": "logfmt"},
                               payload={"price": "${amount}", "label": "${order}/${amount}"})
        self.assertEqual(mapped[-1], {"price": "2", "label": "B-2/2"})


class DottedKeys(Case):
    """`payload: "*"` is every field not used above: an object is written whole (its members are not
    repeated beside it), and a key whose own name has a dot is a field of its own."""

    def json_payload(self, members):
        line = '{"ts":"%s","event":"purchase","iid":"%s",%s}' % (TS, IID, members)
        return self.payloads([line], {"type": "json"})[-1]

    def test_literal_dotted_key_after_the_object_is_kept(self):
        self.assertEqual(self.json_payload('"a":{"b":2},"a.b":1'), {"a": {"b": 2}, "a.b": 1})

    def test_literal_dotted_key_before_the_object_is_kept(self):
        self.assertEqual(self.json_payload('"a.b":1,"a":{"b":2}'), {"a.b": 1, "a": {"b": 2}})

    def test_literal_keys_beside_deeper_objects_and_arrays_are_kept(self):
        self.assertEqual(
            self.json_payload('"a":{"b":{"c":1},"l":[{"x":1}]},"a.b.c":2,"a.b":3,"a.l":4,"z":{}'),
            {"a": {"b": {"c": 1}, "l": [{"x": 1}]}, "a.b.c": 2, "a.b": 3, "a.l": 4, "z": {}})

    def test_object_members_are_not_repeated_beside_the_object(self):
        self.assertEqual(self.json_payload('"a":{"b":{"c":1},"d":[1,{"e":2}]},"f":"x"'),
                         {"a": {"b": {"c": 1}, "d": [1, {"e": 2}]}, "f": "x"})


class PluginValues(Case):
    """A plugin's value typed NUMBER, BOOL, NULL or JSON must be one: anything else rejects the line
    (dead-lettered, with the field and the reason) instead of going into the request as it is."""

    def test_values_that_are_what_their_type_says_are_sent_with_their_types(self):
        line = ("s:ts=%s|s:event=purchase|s:iid=%s|n:amount=9.5|n:count=-2e3|b:paid=true|z:coupon=null|"
                'j:items=[{"sku":"A","qty":2}]|j:meta= {"k":"\\u00e9\\ud83d\\ude00"} ' % (TS, IID))
        self.assertEqual(self.payloads([line], self.plugin("libonside-typed.so")), [{
            "amount": 9.5, "count": -2000.0, "paid": True, "coupon": None,
            "items": [{"sku": "A", "qty": 2}], "meta": {"k": "\u00e9\U0001F600"}}])

    def test_values_that_are_not_what_their_type_says_are_dead_lettered(self):
        head = "s:ts=%s|s:event=purchase|s:iid=%s|" % (TS, IID)
        bad = [
            ('n:amount=1,"injected":true', 'NUMBER value "1,"injected":true" is not a JSON number'),
            ("n:amount=01", 'NUMBER value "01" is not a JSON number'),
            ("n:amount=NaN", 'NUMBER value "NaN" is not a JSON number'),
            ("n:amount=", 'NUMBER value "" is not a JSON number'),
            ("b:paid=yes", 'BOOL value "yes" is not true or false'),
            ("z:coupon=None", 'NULL value "None" is not null'),
            ('j:items={"a":1}}', 'JSON value "{"a":1}}" is not a JSON object or array'),
            ('j:items="text"', 'JSON value ""text"" is not a JSON object or array'),
            ("j:items=[1,]", 'JSON value "[1,]" is not a JSON object or array'),
            ('j:items=["\\ud800"]', 'JSON value "["\\ud800"]" is not a JSON object or array'),
            ('j:items={"a":1,"\\u0061":2}', 'JSON value "{"a":1,"\\u0061":2}" has a duplicate key'),
            ('j:items=[{"b":{"c":1,"c":2}}]', 'JSON value "[{"b":{"c":1,"c":2}}]" has a duplicate key'),
        ]
        good = head + "n:amount=1"
        lines = [good] + [head + item for item, _ in bad] + [good.replace("=1", "=2")]
        events, dead = self.deliver(lines, self.plugin("libonside-typed.so"))
        self.assertEqual([e["payload"] for e in events], [{"amount": 1}, {"amount": 2}])
        self.assertEqual([(d["line"], d["reason"]) for d in dead],
                         [(head + item, 'parse error: plugin field "%s": %s' % (item[2:item.index("=")], why))
                          for item, why in bad])


if __name__ == "__main__":
    agentlib.main()
