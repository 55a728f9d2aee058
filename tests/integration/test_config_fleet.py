#!/usr/bin/env python3
"""Fleet habits in the configuration, through the real binary: ${env:NAME} and ${env:NAME:-default} in
any scalar value (an unset variable without a default is an error at its FILE:LINE:COLUMN; what the
environment gives is redacted from messages like a password), and `include` of other files' inputs
(their problems at their own FILE:LINE:COLUMN; a reload reads them again).
"""

import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib  # noqa: E402
from agentlib import expected_pos_ids, purchase_lines, run_agent, wait_for  # noqa: E402


def endpoint_yaml(standin, extra=""):
    return ("endpoint:\n  url: %s\n  allow_insecure_http: true\n  username: %s\n  password_env: %s\n%s"
            % (standin.url, agentlib.TEST_USER, agentlib.PASSWORD_ENV, extra))


INPUT = ("  - name: %s\n    paths: [\"%s\"]\n    event:\n      event_name: ${event}\n"
         "      event_datetime: ${ts}\n      installation_id: ${install_id}\n")


class Env(agentlib.AgentTestCase):
    def write(self, name, text):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def test_any_scalar_takes_the_environment_and_defaults_apply_when_unset_or_empty(self):
        logs = self.path("logs")
        os.mkdir(logs)
        log = os.path.join(logs, "shop.log")
        agentlib.append_lines(log, purchase_lines(5, seed=80))
        cfg = self.write("env.yaml", (
            "endpoint:\n  url: \"${env:T_URL}\"\n  allow_insecure_http: true\n  username: ${env:T_USER}\n"
            "  password_env: %s\n  timeout: ${env:T_TIMEOUT:-5s}\n"
            "agent:\n  state_dir: ${env:T_STATE}\n  id_namespace: ${env:T_NS:-test-ns}\n"
            "batch:\n  max_events: ${env:T_MAX:-2}\n  flush_interval: 100ms\n"
            "inputs:\n  - name: ${env:T_INPUT}\n    paths: [\"${env:T_LOGS}/*.log\"]\n    event:\n"
            "      event_name: ${event}\n      event_datetime: ${ts}\n      installation_id: ${install_id}\n"
            % agentlib.PASSWORD_ENV))
        env = self.env(T_URL=self.standin.url, T_USER=agentlib.TEST_USER, T_STATE=self.path("state"),
                       T_INPUT="shop", T_LOGS=logs, T_TIMEOUT="")
        rc, out, err = run_agent(["run", "--once", "-c", cfg], env=env)
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted(self.standin.event_ids()),
                         sorted(expected_pos_ids(log, namespace="test-ns", input_name="shop")))
        self.assertEqual(self.standin.stats()["accepted_requests"], 3)  # max_events 2 from the default
        self.assertTrue(os.path.exists(self.path("state", "checkpoint.json")))

    def test_an_unset_variable_is_an_error_at_its_own_column(self):
        cfg = self.write("unset.yaml", endpoint_yaml(self.standin, "  ca_file: \"/etc/${env:T_NOPE}/ca.pem\"\n")
                         + "inputs:\n" + INPUT % ("a", "${env:T_NOPE2:-/var/log}/a.log"))
        rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
        self.assertEqual(rc, 2)
        # line 6 is `  ca_file: "/etc/${env:T_NOPE}/ca.pem"`: the quote is at column 12, ${ at 18
        self.assertEqual(err, "%s:6:18: environment variable T_NOPE is not set (${env:T_NOPE:-VALUE} gives a "
                              "default)\n" % cfg)

    def test_a_malformed_reference_is_an_error(self):
        cfg = self.write("bad.yaml", endpoint_yaml(self.standin, "  timeout: ${env:1X}\n")
                         + "inputs:\n" + INPUT % ("a", "/var/log/a.log"))
        rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
        self.assertEqual(rc, 2)
        self.assertEqual(err, '%s:6:12: invalid reference "${env:1X}": expected ${env:NAME} or ${env:NAME:-default}, '
                              'NAME of letters, digits and _\n' % cfg)

    def test_values_from_the_environment_are_redacted_from_messages(self):
        secret = "Zz-secret-91"
        cfg = self.write("redact.yaml", endpoint_yaml(self.standin, "  timeout: ${env:T_TIMEOUT}\n")
                         + "agent:\n  state_dir: ${env:T_DIR}\n" + "inputs:\n" + INPUT % ("a", "/var/log/a.log"))
        rc, out, err = run_agent(["check", "-c", cfg], env=self.env(T_TIMEOUT=secret, T_DIR="relative/" + secret))
        self.assertEqual(rc, 2)
        self.assertEqual(err.splitlines(), [
            '%s:6:12: endpoint.timeout: invalid duration "<redacted>" (expected a number with a unit: ms, s, m, h '
            'or d)' % cfg,
            '%s:8:14: agent.state_dir: must be an absolute path, got "relative/<redacted>"' % cfg])
        self.assertNotIn(secret, out + err)

    def test_a_template_keeps_its_own_references(self):
        log = self.write_log(purchase_lines(1, seed=81))
        cfg = self.config(paths=[log], input={"event": {"event_name": "${env:T_PREFIX}-${event}-$${env:X}"}})
        rc, out, err = run_agent(["parse", "-c", cfg, log], env=self.env(T_PREFIX="shop"))
        self.assertEqual(rc, 0, err)
        self.assertIn('"event_name":"shop-purchase_completed-${env:X}"', out)


class Include(agentlib.AgentTestCase):
    def write(self, name, text):
        p = self.path(name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        return p

    def main_config(self, include, inputs=None, name="agent.yaml"):
        text = endpoint_yaml(self.standin) + "agent:\n  state_dir: %s\n  id_namespace: test-ns\n" % self.path("state")
        text += "batch:\n  flush_interval: 100ms\n"
        if inputs:
            text += "inputs:\n" + "".join(INPUT % i for i in inputs)
        return self.write(name, text + "include: %s\n" % include)

    def test_included_files_add_their_inputs(self):
        a = self.write_log(purchase_lines(3, seed=82), name="a.log")
        b = self.write_log(purchase_lines(4, seed=83), name="b.log")
        c = self.write_log(purchase_lines(2, seed=84), name="c.log")
        self.write("conf.d/10-b.yaml", "inputs:\n" + INPUT % ("b", b))
        self.write("conf.d/20-c.yaml", "inputs:\n" + INPUT % ("c", c))
        self.write("conf.d/README", "not a yaml file: the glob leaves it out")
        cfg = self.main_config("[conf.d/*.yaml]", [("a", a)])
        rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.startswith("%s: valid: 3 inputs (with 2 included files), endpoint " % cfg), out)
        rc, out, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        want = expected_pos_ids(a, input_name="a") + expected_pos_ids(b, input_name="b") + \
            expected_pos_ids(c, input_name="c")
        self.assertEqual(sorted(self.standin.event_ids()), sorted(want))

    def test_the_configuration_may_hold_no_inputs_of_its_own(self):
        b = self.write_log(purchase_lines(2, seed=85), name="b.log")
        self.write("conf.d/b.yaml", "inputs:\n" + INPUT % ("b", b))
        cfg = self.main_config(self.path("conf.d", "*.yaml"))
        rc, out, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted(self.standin.event_ids()), sorted(expected_pos_ids(b, input_name="b")))

    def test_problems_of_an_included_file_are_at_its_own_positions(self):
        inc = self.write("conf.d/bad.yaml", "inputs:\n" + INPUT % ("b", "/var/log/b.log")
                         + "    rotate_wait: soon\n  - name: a\n    paths: [/var/log/a2.log]\n    event: {}\n")
        cfg = self.main_config("conf.d/*.yaml", [("a", "/var/log/a.log")], name="main.yaml")
        rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
        self.assertEqual(rc, 2)
        self.assertEqual(err.splitlines(), [
            '%s:8:18: inputs[0].rotate_wait: invalid duration "soon" (expected a number with a unit: ms, s, m, h or d)'
            % inc,
            '%s:9:11: inputs[1].name: duplicate input name "a" (first at %s:12)' % (inc, cfg),
            '%s:11:12: inputs[1].event: missing required key "event_name"' % inc,
            '%s:11:12: inputs[1].event: missing required key "event_datetime"' % inc,
            '%s:11:12: inputs[1].event: missing required key "installation_id"' % inc])

    def test_an_included_file_holds_only_inputs(self):
        inc = self.write("conf.d/x.yaml", "batch:\n  max_events: 5\ninputs:\n" + INPUT % ("b", "/var/log/b.log"))
        cfg = self.main_config("conf.d/*.yaml", [("a", "/var/log/a.log")])
        rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
        self.assertEqual(rc, 2)
        self.assertEqual(err, '%s:1:1: unknown key "batch" at the top level (an included file holds only inputs)\n'
                         % inc)

    def test_include_mistakes_are_reported(self):
        cases = [
            ("[%s]" % self.path("*.yaml"), "include: %s is this configuration itself; keep included files in a "
                                           "directory of their own (conf.d/*.yaml)" % self.path("agent.yaml")),
            ("[conf.d/missing.yaml]", "include: cannot read %s: No such file or directory"
             % self.path("conf.d", "missing.yaml")),
        ]
        os.makedirs(self.path("conf.d"), exist_ok=True)
        for include, message in cases:
            cfg = self.main_config(include, [("a", "/var/log/a.log")])
            rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
            self.assertEqual(rc, 2, include)
            self.assertRegex(err, r"^%s:\d+:\d+: %s\n$" % (re.escape(cfg), re.escape(message)))
        # an empty conf.d is fine, but the inputs must come from somewhere
        cfg = self.main_config("conf.d/*.yaml")
        rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
        self.assertEqual(rc, 2)
        self.assertEqual(err, '%s:1:1: missing required key "inputs"\n' % cfg)

    def test_included_files_take_the_environment_too(self):
        b = self.write_log(purchase_lines(2, seed=86), name="b.log")
        self.write("conf.d/b.yaml", "inputs:\n" + INPUT % ("${env:T_NAME}", "${env:T_LOG}"))
        cfg = self.main_config("conf.d/*.yaml")
        rc, out, err = run_agent(["run", "--once", "-c", cfg], env=self.env(T_NAME="from-env", T_LOG=b))
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted(self.standin.event_ids()), sorted(expected_pos_ids(b, input_name="from-env")))

    def test_a_reload_reads_the_included_files_again(self):
        a = self.write_log(purchase_lines(2, seed=87), name="a.log")
        cfg = self.main_config("conf.d/*.yaml", [("a", a)])
        os.makedirs(self.path("conf.d"))
        proc = self.start_agent(["run", "-c", cfg])
        self.standin.wait_events(2)
        b = self.write_log(purchase_lines(3, seed=88), name="b.log")
        self.write("conf.d/b.yaml", "inputs:\n" + INPUT % ("b", b))
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reloaded %s: 2 inputs" % cfg in agentlib.agent_stderr(proc), message="the reload")
        self.standin.wait_events(5)
        agentlib.stop_agent(proc)
        self.assertEqual(sorted(self.standin.event_ids()),
                         sorted(expected_pos_ids(a, input_name="a") + expected_pos_ids(b, input_name="b")))


if __name__ == "__main__":
    agentlib.main()
