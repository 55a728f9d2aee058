"""The reference ships with the code (issue 15, item 8): docs/reference.md and the man pages document
every configuration key the agent accepts and every command and option its `help` names, the man
pages render without warnings, and nothing sends a user to the contract outside the repository.

The keys are read from the key tables of config/*.c and the parsers' option tables (parsers/*.c),
which are what the binary accepts; the commands and options from the binary's own `help`. A key or an
option added without its documentation fails here, naming it.
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib  # noqa: E402

SRC = agentlib.source_dir()
REFERENCE = os.path.join(SRC, "docs", "reference.md")
MAN8 = os.path.join(SRC, "packaging", "man", "onside-agent.8")
MAN5 = os.path.join(SRC, "packaging", "man", "onside-agent.yaml.5")

# Key table (C array name) -> the prefix its keys have in the documentation.
TABLE_PREFIX = {
    "root_keys": "",
    "endpoint_keys": "endpoint.",
    "agent_keys": "agent.",
    "batch_keys": "batch.",
    "retry_keys": "retry.",
    "input_keys": "",
    "event_keys": "event.",
    "parser_common_keys": "parser.",
    "parser_plugin_keys": "parser.",
    "included_keys": "",
}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def config_keys():
    """{documented name: source file} of every key of the configuration's key tables and of every
    built-in parser's options."""
    keys = {}
    table = re.compile(r"static (?:const )?struct (cfg_key|parser_opt) (\w+)\[[^\]]*\] = \{(.*?)\n\};", re.S)
    for path in sorted(glob.glob(os.path.join(SRC, "config", "*.c")) + glob.glob(os.path.join(SRC, "parsers", "*.c"))):
        for kind, name, body in table.findall(read(path)):
            if kind == "parser_opt":
                prefix = "parser."
            elif name in TABLE_PREFIX:
                prefix = TABLE_PREFIX[name]
            else:
                raise AssertionError("%s: key table %s has no known place in the documentation; add it to "
                                     "TABLE_PREFIX" % (path, name))
            for key in re.findall(r'\.key = "([a-z_]+)"', body):
                keys[prefix + key] = os.path.relpath(path, SRC)
    return keys


def man_names(text):
    """Words that a man page sets in bold or italics (.B, .BR, .I, .IR, ... and \\fB...\\fP), with the
    roff escapes of '-' undone."""
    words = set()
    for line in text.splitlines():
        if re.match(r"^\.(B|I|BR|RB|BI|IB|IR|RI)\b", line):
            for w in re.findall(r"[A-Za-z0-9_.\\-]+", line[line.index(" ") + 1:] if " " in line else ""):
                words.add(w.replace("\\-", "-"))
    for w in re.findall(r"\\f[BI]([^\\]+)\\f[PR]", text):
        words.add(w.replace("\\-", "-"))
    return words


class KeysDocumented(unittest.TestCase):
    def test_key_tables_found(self):
        keys = config_keys()
        # a guard on the guard: the tables were read at all
        for k in ("endpoint.url", "endpoint.proxy", "agent.log_format", "batch.max_in_flight", "include",
                  "inputs", "paths", "event.timezone", "parser.type", "parser.pattern", "parser.label_delimiter"):
            self.assertIn(k, keys)

    def test_every_key_in_the_reference(self):
        ref = read(REFERENCE)
        missing = sorted(k for k in config_keys() if "`%s`" % k not in ref)
        self.assertEqual(missing, [], "configuration keys missing from docs/reference.md (as `key`)")

    def test_every_key_in_the_man_page(self):
        words = man_names(read(MAN5))
        missing = sorted("%s (%s)" % (k, src) for k, src in config_keys().items()
                         if k.rsplit(".", 1)[-1] not in words)
        self.assertEqual(missing, [], "configuration keys missing from onside-agent.yaml(5)")


def help_text(*args):
    rc, out, err = agentlib.run_agent(["help"] + list(args))
    if rc != 0:
        raise AssertionError("onside-agent help %s: exit %d: %s" % (" ".join(args), rc, err))
    return out


class CommandsDocumented(unittest.TestCase):
    def commands(self):
        cmds = sorted(set(re.findall(r"^  onside-agent (?:\[)?([a-z]+)", help_text(), re.M)))
        self.assertTrue({"run", "check", "parse", "status", "replay", "help"} <= set(cmds), cmds)
        return cmds

    def options(self):
        opts = set(re.findall(r"(?<![\w-])(--?[a-zA-Z][a-z-]*)", help_text()))
        for c in self.commands():
            opts |= set(re.findall(r"(?<![\w-])(--?[a-zA-Z][a-z-]*)", help_text(c)))
        opts.discard("-")
        self.assertIn("--connect", opts)
        self.assertIn("--dry-run", opts)
        return sorted(opts)

    def test_commands(self):
        ref, man = read(REFERENCE), read(MAN8)
        for c in self.commands():
            self.assertIn("onside-agent %s" % c, ref.replace("onside-agent [run]", "onside-agent run"),
                          "command %s missing from docs/reference.md" % c)
            self.assertRegex(man, r"(?m)^\.(B|BR) %s\b" % c, "command %s missing from onside-agent(8)" % c)

    def test_options(self):
        ref, man = read(REFERENCE), read(MAN8)
        # the reference's usage block, and its words in backquotes
        usage = "\n".join(re.findall(r"(?ms)^```\n(onside-agent .*?)^```", ref))
        for o in self.options():
            self.assertRegex(" ".join(re.findall(r"`[^`]*`", ref)) + "\n" + usage,
                             r"(?<![\w-])%s(?![\w-])" % re.escape(o), "option %s missing from docs/reference.md" % o)
            self.assertIn(o.replace("-", "\\-"), man, "option %s missing from onside-agent(8)" % o)


class ManPages(unittest.TestCase):
    @unittest.skipUnless(shutil.which("man") and shutil.which("groff"), "man and groff are not installed")
    def test_render_without_warnings(self):
        for page in (MAN8, MAN5):
            env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
            p = subprocess.run(["man", "--warnings", "-l", page], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr.decode("utf-8", "replace"))
            self.assertEqual(p.stderr.decode("utf-8", "replace"), "", os.path.basename(page))
            self.assertIn(b"EVENT IDS" if page == MAN8 else b"FILES FOR FLEETS", p.stdout)


class NoContractOutside(unittest.TestCase):
    def test_no_pointer_to_the_shared_contract(self):
        """No file of the repository sends a reader to ../shared (a clone does not have it)."""
        files = []
        skip_dirs = {".git", "__pycache__"}
        for root, dirs, names in os.walk(SRC):
            # build trees and fuzz corpora are not the repository's text
            dirs[:] = [d for d in dirs if d not in skip_dirs and not d.startswith("build")]
            files += [os.path.relpath(os.path.join(root, n), SRC).encode() for n in names]
        me = os.path.relpath(os.path.abspath(__file__), SRC).encode()
        found = []
        for f in files:
            path = os.path.join(SRC.encode(), f)
            if not f or f == me or not os.path.isfile(path):
                continue
            with open(path, "rb") as fh:
                if b"shared/SPEC" in fh.read():
                    found.append(f.decode("utf-8", "replace"))
        self.assertEqual(found, [])


if __name__ == "__main__":
    agentlib.main()
