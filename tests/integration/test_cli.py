"""End-to-end tests of `onside-agent check`, `--version`, `--help` and bad usage through the real binary.

Each test runs the agent as a user would and asserts what that user sees: the exit code, the exact
`FILE:LINE:COLUMN: message` lines on stderr, the one-line summary on stdout, and that the password
never appears in any output. Fixtures live in tests/data/e2e/. No network traffic at all.
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib  # noqa: E402

E2E_DATA = os.path.join(agentlib.source_dir(), "tests", "data", "e2e")
BUNDLED = os.path.join(agentlib.source_dir(), "config", "agent.yaml")
PASSWORD_VAR = "ONSIDE_E2E_PASSWORD"
# Distinctive, so that finding it in any output cannot be a coincidence.
PASSWORD = "Pw-e2e-7hQ9xLmK2vRt"
# The bundled config's password source line (line 18), as shipped.
BUNDLED_PASSWORD_LINE = "  password_file: /etc/onside-agent/password\n"
# The bundled config's one glob, which a test machine has no file for.
BUNDLED_PATH = "/var/log/shop/purchases.log"


def plugin(name):
    """The absolute path of a built plugin in $ONSIDE_PLUGIN_DIR, or None when it is not there. Skips
    the test when the agent cannot load plugins at all (the static, portable build)."""
    agentlib.skip_unless_plugins_load()
    d = agentlib.plugin_dir()
    so = os.path.abspath(os.path.join(d, name)) if d else None
    return so if so and os.path.exists(so) else None


def fixture(name):
    return os.path.join(E2E_DATA, name)


def env_with(password=PASSWORD, **extra):
    env = agentlib.agent_env()
    env.pop(agentlib.PASSWORD_ENV, None)
    env.pop(PASSWORD_VAR, None)
    if password is not None:
        env[PASSWORD_VAR] = password
    env.update(extra)
    return env


class CliCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="onside-e2e-cli-")

    def tearDown(self):
        if not os.environ.get("ONSIDE_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *names):
        return os.path.join(self.tmp, *names)

    def run_check(self, cfg, env=None, secrets=(PASSWORD,)):
        """Runs `check -c cfg`; asserts that no secret appears on stdout or stderr."""
        rc, out, err = agentlib.run_agent(["check", "-c", cfg], env=env_with() if env is None else env)
        for s in secrets:
            self.assertNotIn(s, out, "the password leaked to stdout")
            self.assertNotIn(s, err, "the password leaked to stderr")
        return rc, out, err

    def bundled(self, replacement, name="agent.yaml", mode=0o600, state_dir=None):
        """The bundled config/agent.yaml copied into tmp with its password_file line replaced."""
        with open(BUNDLED, encoding="utf-8") as f:
            text = f.read()
        self.assertEqual(text.count(BUNDLED_PASSWORD_LINE), 1, "the bundled config changed its password line")
        text = text.replace(BUNDLED_PASSWORD_LINE, replacement)
        if state_dir is not None:
            old = "  state_dir: /var/lib/onside-agent"
            self.assertIn(old, text)
            text = text.replace(old, "  state_dir: " + state_dir)
        p = self.path(name)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def password_file(self, mode, content=PASSWORD + "\n"):
        p = self.path("password")
        with open(p, "w", encoding="utf-8") as f:
            f.write(content)
        os.chmod(p, mode)
        return p

    def without_no_file_warnings(self, err, cfg, *paths):
        """The lines of err before the warnings `check` ends with for each glob of cfg that matches no
        file on this machine (paths: (input index, path index, glob)), which are asserted to be there."""
        want = ['%s: inputs[%d].paths[%d]: "%s" matches no file now (run follows files that appear)' % (cfg, i, k, p)
                for i, k, p in paths if not glob.glob(p)]
        lines = err.splitlines()
        self.assertEqual(lines[len(lines) - len(want):], want, err)
        return lines[:len(lines) - len(want)]

    def assert_valid_summary(self, rc, out, err):
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.endswith("\n"), repr(out))
        self.assertEqual(len(out.splitlines()), 1, "the summary is one line: %r" % out)
        self.assertTrue(out.strip(), "the summary is empty")


class Version(CliCase):
    def project_version(self):
        with open(os.path.join(agentlib.source_dir(), "CMakeLists.txt"), encoding="utf-8") as f:
            m = re.search(r"project\(onside-agent VERSION ([0-9.]+)", f.read())
        self.assertIsNotNone(m)
        return m.group(1)

    def test_version_prints_name_and_project_version(self):
        rc, out, err = agentlib.run_agent(["--version"])
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(out.splitlines()[0], "onside-agent %s" % self.project_version())

    def test_version_needs_no_config(self):
        # -c pointing nowhere must not matter for --version
        rc, out, err = agentlib.run_agent(["--version", "-c", self.path("absent.yaml")])
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(out.splitlines()[0], "onside-agent %s" % self.project_version())


class Help(CliCase):
    def test_help_lists_every_command(self):
        rc, out, err = agentlib.run_agent(["--help"])
        self.assertEqual(rc, 0)
        self.assertEqual(err, "")
        for needle in ("onside-agent [run] [-c FILE] [--once] [-v|-q]",
                       "onside-agent check [-c FILE]",
                       "onside-agent parse [-c FILE] [--input NAME] [PATH|-]",
                       "onside-agent status [-c FILE]",
                       "onside-agent replay [-c FILE] [--input NAME] [--reason REGEX] [--dry-run]",
                       "onside-agent help [COMMAND] | --version | --help",
                       "/etc/onside-agent/agent.yaml"):
            self.assertIn(needle, out)

    def test_help_after_a_command_is_that_commands_help(self):
        for cmd in ("run", "check", "parse", "status", "replay", "help"):
            rc, out, err = agentlib.run_agent(["help", cmd])
            self.assertEqual((rc, err), (0, ""), cmd)
            self.assertTrue(out.startswith("usage: onside-agent %s" % ("[run]" if cmd == "run" else cmd)), out)
            self.assertEqual(agentlib.run_agent([cmd, "--help"]), (0, out, ""), cmd)


class BadUsage(CliCase):
    def assert_usage_error(self, args, names):
        rc, out, err = agentlib.run_agent(args, env=env_with())
        self.assertEqual(rc, 2, "args %r: %s" % (args, err))
        self.assertEqual(out, "", "args %r" % (args,))
        self.assertIn(names, err, "args %r" % (args,))
        self.assertIn("--help", err, "a usage error points at --help")
        return err

    def test_unknown_command(self):
        self.assert_usage_error(["frobnicate"], "frobnicate")

    def test_unknown_option(self):
        self.assert_usage_error(["check", "--frobnicate"], "--frobnicate")

    def test_unexpected_argument_to_check(self):
        self.assert_usage_error(["check", "-c", fixture("check_http_url.yaml"), "extra"], "extra")

    def test_second_path_to_parse(self):
        self.assert_usage_error(["parse", "-c", fixture("check_http_url.yaml"), "a.log", "b.log"], "b.log")

    def test_missing_option_value(self):
        self.assert_usage_error(["check", "-c"], "-c")

    def test_missing_input_value(self):
        self.assert_usage_error(["parse", "-c", fixture("check_http_url.yaml"), "--input"], "--input")

    def test_once_is_only_for_run(self):
        self.assert_usage_error(["check", "--once"], "--once")

    def test_input_is_only_for_parse(self):
        self.assert_usage_error(["check", "--input", "purchases"], "--input")

    def test_option_that_only_starts_like_config_is_unknown(self):
        # "--configure" is not "--config": it must not swallow the next argument as the config path
        cfg = self.bundled("  password_env: %s\n" % PASSWORD_VAR)
        self.assert_usage_error(["check", "--configure", cfg], "--configure")

    def test_option_that_only_starts_like_input_is_unknown(self):
        # "--inputs" is not "--input": it must not swallow the next argument as the input name
        cfg = self.bundled("  password_env: %s\n" % PASSWORD_VAR)
        self.assert_usage_error(["parse", "-c", cfg, "--inputs", "purchases"], "--inputs")

    def test_config_long_forms(self):
        cfg = self.bundled("  password_env: %s\n" % PASSWORD_VAR)
        for args in (["check", "--config", cfg], ["check", "--config=" + cfg]):
            rc, out, err = agentlib.run_agent(args, env=env_with())
            self.assert_valid_summary(rc, out, err)
            self.assertEqual(self.without_no_file_warnings(err, cfg, (0, 0, BUNDLED_PATH)), [])


class CheckValid(CliCase):
    def test_bundled_config_with_password_env(self):
        state = self.path("state")
        cfg = self.bundled("  password_env: %s\n" % PASSWORD_VAR, state_dir=state)
        rc, out, err = self.run_check(cfg)
        self.assert_valid_summary(rc, out, err)
        self.assertEqual(self.without_no_file_warnings(err, cfg, (0, 0, BUNDLED_PATH)), [])
        self.assertFalse(os.path.exists(state), "check created the state directory")

    def test_bundled_config_with_private_password_file(self):
        pw = self.password_file(0o600)
        cfg = self.bundled("  password_file: %s\n" % pw)
        rc, out, err = self.run_check(cfg)
        self.assert_valid_summary(rc, out, err)
        self.assertEqual(self.without_no_file_warnings(err, cfg, (0, 0, BUNDLED_PATH)), [])

    def test_password_file_readable_by_others_warns_without_the_password(self):
        pw = self.password_file(0o644)
        cfg = self.bundled("  password_file: %s\n" % pw)
        rc, out, err = self.run_check(cfg)
        self.assert_valid_summary(rc, out, err)
        lines = self.without_no_file_warnings(err, cfg, (0, 0, BUNDLED_PATH))
        self.assertEqual(len(lines), 1, err)
        # at the password_file value: line 18, column 18
        self.assertTrue(lines[0].startswith("%s:18:18: " % cfg), lines[0])
        self.assertIn(pw, lines[0])
        self.assertIn("readable by other users", lines[0])

    def test_inline_password_warns_without_the_password(self):
        cfg = self.bundled('  password: "%s"\n' % PASSWORD, mode=0o600)
        rc, out, err = self.run_check(cfg)
        self.assert_valid_summary(rc, out, err)
        lines = self.without_no_file_warnings(err, cfg, (0, 0, BUNDLED_PATH))
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("%s:18:13: endpoint.password: " % cfg), lines[0])

    def test_inline_password_in_world_readable_config_warns_twice_without_the_password(self):
        cfg = self.bundled('  password: "%s"\n' % PASSWORD, mode=0o644)
        rc, out, err = self.run_check(cfg)
        self.assert_valid_summary(rc, out, err)
        self.assertEqual(len(self.without_no_file_warnings(err, cfg, (0, 0, BUNDLED_PATH))), 2, err)
        self.assertIn("readable by other users", err)

    def test_example_plugin_input_is_valid(self):
        so = plugin("libonside-kv.so")
        if so is None:
            self.skipTest("no example plugin in $ONSIDE_PLUGIN_DIR")
        cfg = self.path("kv.yaml")
        with open(cfg, "w", encoding="utf-8") as f:
            f.write(PLUGIN_CONFIG % (PASSWORD_VAR, so))
        rc, out, err = self.run_check(cfg)
        self.assert_valid_summary(rc, out, err)
        self.assertEqual(self.without_no_file_warnings(err, cfg, (0, 0, "/var/log/shop/purchases.kv")), [])


PLUGIN_CONFIG = """endpoint:
  username: acme
  password_env: %s
inputs:
  - name: purchases
    paths: [/var/log/shop/purchases.kv]
    parser:
      type: plugin
      path: %s
    event:
      event_name: ${event}
      event_datetime: ${ts}
      installation_id: ${install_id}
"""


class CheckInvalid(CliCase):
    def assert_errors(self, cfg, lines, env=None):
        rc, out, err = self.run_check(cfg, env=env)
        self.assertEqual(rc, 2, err)
        self.assertEqual(out, "", "nothing on stdout for an invalid configuration")
        self.assertEqual(err.splitlines(), lines)

    def test_unknown_key(self):
        cfg = fixture("check_unknown_key.yaml")
        self.assert_errors(cfg, ['%s:12:7: unknown key "paylod" in inputs[0].event; did you mean "payload"?' % cfg])

    def test_bad_duration(self):
        cfg = fixture("check_bad_duration.yaml")
        self.assert_errors(cfg, ['%s:6:19: batch.flush_interval: invalid duration "250" '
                                 '(expected a number with a unit: ms, s, m, h or d)' % cfg])

    def test_http_url_without_allow_insecure_http(self):
        cfg = fixture("check_http_url.yaml")
        self.assert_errors(cfg, ["%s:3:8: endpoint.url: http:// is refused unless endpoint.allow_insecure_http "
                                 "is true" % cfg])

    def test_missing_inputs(self):
        cfg = fixture("check_missing_inputs.yaml")
        self.assert_errors(cfg, ['%s:2:1: missing required key "inputs"' % cfg])

    def test_two_errors_both_reported_in_order(self):
        cfg = fixture("check_two_errors.yaml")
        self.assert_errors(cfg, [
            '%s:5:12: endpoint.timeout: invalid duration "soon" (expected a number with a unit: ms, s, m, h or d)'
            % cfg,
            "%s:7:15: batch.max_events: must be between 1 and 1000, got 1001" % cfg,
        ])

    def test_yaml_syntax_error(self):
        cfg = fixture("check_syntax_error.yaml")
        self.assert_errors(cfg, ["%s:8:10: did not find expected ',' or ']' (while parsing a flow sequence at "
                                 "line 7, column 12)" % cfg])

    def test_relative_config_path_is_reported_as_given(self):
        # run from the fixture directory so that FILE is the relative name the user typed
        p = subprocess.run(agentlib.agent_command() + ["check", "-c", "check_http_url.yaml"], cwd=E2E_DATA,
                           env=env_with(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stdout, b"")
        self.assertEqual(p.stderr.decode().splitlines(),
                         ["check_http_url.yaml:3:8: endpoint.url: http:// is refused unless "
                          "endpoint.allow_insecure_http is true"])

    def test_password_env_not_set(self):
        cfg = self.bundled("  password_env: %s\n" % PASSWORD_VAR)
        self.assert_errors(cfg, ["%s:18:17: endpoint.password_env: environment variable %s is not set"
                                 % (cfg, PASSWORD_VAR)], env=env_with(password=None))

    def test_password_env_empty(self):
        cfg = self.bundled("  password_env: %s\n" % PASSWORD_VAR)
        self.assert_errors(cfg, ["%s:18:17: endpoint.password_env: environment variable %s is empty"
                                 % (cfg, PASSWORD_VAR)], env=env_with(password=""))

    def test_credentials_in_the_url_are_refused_without_echoing_them(self):
        cfg = self.bundled("  password_env: %s\n" % PASSWORD_VAR)
        with open(cfg, encoding="utf-8") as f:
            text = f.read()
        url_secret = "UrlPw-e2e-41kD"
        text = text.replace("  url: https://onside.io/", "  url: https://acme:%s@onside.io/" % url_secret)
        with open(cfg, "w", encoding="utf-8") as f:
            f.write(text)
        rc, out, err = self.run_check(cfg, secrets=(PASSWORD, url_secret))
        self.assertEqual(rc, 2, err)
        self.assertEqual(out, "")
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("%s:12:8: endpoint.url: " % cfg), lines[0])

    def test_password_file_missing(self):
        pw = self.path("no-such-password")
        cfg = self.bundled("  password_file: %s\n" % pw)
        rc, out, err = self.run_check(cfg)
        self.assertEqual(rc, 2, err)
        self.assertEqual(out, "")
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("%s:18:18: endpoint.password_file: " % cfg), lines[0])
        self.assertIn(pw, lines[0])

    def test_missing_credentials_for_check(self):
        cfg = self.bundled("")
        rc, out, err = self.run_check(cfg)
        self.assertEqual(rc, 2, err)
        self.assertEqual(out, "")
        self.assertIn("missing a password source", err)
        for line in err.splitlines():
            self.assertRegex(line, r"^%s:\d+:\d+: " % re.escape(cfg))

    def test_missing_config_file(self):
        cfg = self.path("nowhere", "agent.yaml")
        rc, out, err = self.run_check(cfg)
        self.assertEqual(rc, 2, err)
        self.assertEqual(out, "")
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn(cfg, err)

    def test_default_config_path_is_etc(self):
        if os.path.exists("/etc/onside-agent/agent.yaml"):
            self.skipTest("this machine has /etc/onside-agent/agent.yaml")
        rc, out, err = agentlib.run_agent(["check"], env=env_with())
        self.assertEqual(rc, 2, err)
        self.assertEqual(out, "")
        self.assertIn("/etc/onside-agent/agent.yaml", err)

    def test_config_is_a_directory(self):
        rc, out, err = self.run_check(self.tmp)
        self.assertEqual(rc, 2, err)
        self.assertEqual(out, "")
        self.assertIn(self.tmp, err)

    def test_plugin_with_wrong_abi(self):
        so = plugin("libonside-badabi.so")
        if so is None:
            self.skipTest("no libonside-badabi.so in $ONSIDE_PLUGIN_DIR")
        cfg = self.path("badabi.yaml")
        with open(cfg, "w", encoding="utf-8") as f:
            f.write(PLUGIN_CONFIG % (PASSWORD_VAR, so))
        rc, out, err = self.run_check(cfg)
        self.assertEqual(rc, 2, err)
        self.assertEqual(out, "")
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertIn(so, lines[0])
        self.assertIn("ABI", lines[0])
        # SPEC: check prints each problem as FILE:LINE:COLUMN: message, at the offending node: the
        # parser's path value (line 9, column 13)
        self.assertTrue(lines[0].startswith("%s:9:13: " % cfg), lines[0])

    def test_portable_build_refuses_plugins_and_names_the_native_packages(self):
        if not agentlib.statically_linked():
            self.skipTest("the agent binary is dynamically linked: it loads plugins")
        so = self.path("libanything.so")  # never opened: a static binary cannot load any
        cfg = self.path("plugin.yaml")
        with open(cfg, "w", encoding="utf-8") as f:
            f.write(PLUGIN_CONFIG % (PASSWORD_VAR, so))
        why = ("plugin %s: this onside-agent is the portable, statically linked build, which cannot load "
               "parser plugins; to use a plugin, install the native package built for this distribution "
               "instead (the built-in parsers work in both)" % so)
        rc, out, err = self.run_check(cfg)
        self.assertEqual((rc, out), (2, ""), err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertTrue(err.startswith(cfg + ":") and err.endswith(why + "\n"), err)
        rc, out, err = agentlib.run_agent(["run", "--once", "-c", cfg], env=env_with())
        self.assertEqual(rc, 2, err)
        self.assertIn(why + "\n", err)


if __name__ == "__main__":
    agentlib.main()
