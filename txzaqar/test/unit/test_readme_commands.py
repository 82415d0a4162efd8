"""
The README's shell commands, run as printed.

L{TwistdCommandTests}: every shell block of the README with a C{twistd}
(or C{twist}) command is run by C{bash} as it is printed, continuation
lines, C{export} lines and all, with two changes made for the test, both
in L{ShellWorld}:

  - C{twistd} and C{twist} on C{$PATH} are stand-ins that parse their
    command line with the real parsers (C{twistd}:
    C{twisted.scripts.twistd.ServerOptions().parseOptions(argv[1:])}, which
    loads the C{zaqar-listen} plugin and runs its option checks, Keystone
    options included, without calling Keystone; C{twist}: the plugin's
    options) and write what they parsed as one JSON line instead of
    starting the daemon;
  - absolute file paths the README uses (L{PATHS}) are replaced by files
    of a temporary directory: the password file, and a real PEM CA from
    L{make_test_pki} for the CA bundle.  An absolute path not in L{PATHS}
    fails the test, saying where to add it.

The working directory holds C{mypackage/handlers.py} defining C{handle},
so C{--handler mypackage.handlers:handle} imports.  The test then checks
that every option of each command came out of the parser with the value
printed.

L{ProseOptionTests}: the options the README names in its prose (the
daemon's, C{python -m txzaqar.testing}'s, the demo's, the benchmark's)
exist, each checked against the program's own C{--help} or options; and
every C{tox -e NAME} it names is an env of C{tox.ini}.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from txzaqar.daemon import _service as _tap
from txzaqar.test import readme
from txzaqar.testing.servers.pki import make_test_pki

#: Shell blocks: what C{::} blocks and these code-block languages hold.
SHELL_KINDS = ("literal", "sh", "shell", "bash", "console")

#: The programs the stand-ins replace.
DAEMONS = ("twistd", "twist")

#: Absolute paths the README's commands use: what the temporary file is
#: (C{"ca"}: a PEM CA certificate; C{"twistd"} or C{"twist"}: the
#: stand-in, for a program named by its path; anything else: that text).
PATHS = {
    "/etc/orders/password": "not-a-real-password\n",
    "/etc/ssl/our-ca.pem": "ca",
    "/srv/orders/venv/bin/twistd": "twistd",
}

_ABSOLUTE = re.compile(r"(?<![\w:/.~$-])/[\w.-]+(?:/[\w.-]+)+")

#: The stand-in for twistd and twist: parse, write one JSON line, exit 0
#: (or exit as the parser does on a usage error).
STAND_IN = '''\
import json, os, sys
from twisted.python import usage

program = os.path.basename(sys.argv[0])
args = sys.argv[1:]
try:
    if program == "twistd":
        from twisted.scripts.twistd import ServerOptions
        config = ServerOptions()
        config.parseOptions(args)
        command, sub = config.subCommand, config.subOptions
    else:
        # twist's own options (before the plugin name) are not parsed here:
        # its parser is private; the plugin's options are.
        from twisted.application.service import IServiceMaker
        from twisted.plugin import getPlugins
        makers = {m.tapname: m for m in getPlugins(IServiceMaker)}
        names = [a for a in args if a in makers]
        if not names:
            raise usage.UsageError("no plugin named on the command line")
        command = names[0]
        sub = makers[command].options()
        sub.parseOptions(args[args.index(command) + 1:])
except usage.UsageError as e:
    print(f"{program}: {e}", file=sys.stderr)
    sys.exit(1)
handler = sub.get("handler-function")
keystone = sub.get("keystone")
with open(os.environ["README_PARSED"], "a") as out:
    out.write(json.dumps({
        "program": program,
        "argv": args,
        "command": command,
        "options": {name.rstrip("="): sub.get(name.rstrip("=")) for name in sub.longOpt},
        "queues": sub.get("queues"),
        "handler": None if handler is None else
            [handler.__module__, handler.__qualname__, sys.modules[handler.__module__].__file__],
        "keystone": None if keystone is None else sorted(keystone),
    }, default=repr) + "\\n")
'''

HANDLERS = '''\
"""The README's handler module, made by test_readme_commands."""


def handle(message):
    pass
'''


class ShellWorld:
    """
    A temporary directory to run the README's shell commands in: the
    stand-ins on C{$PATH}, the handler package, the files of L{PATHS}.
    """

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="readme-commands-"))
        self.bin = self.root / "bin"
        self.bin.mkdir()
        for name in DAEMONS:
            script = self.bin / name
            script.write_text(f"#!{sys.executable}\n{STAND_IN}")
            script.chmod(0o755)
        self.cwd = self.root / "work"
        (self.cwd / "mypackage").mkdir(parents=True)
        (self.cwd / "mypackage" / "__init__.py").write_text("")
        (self.cwd / "mypackage" / "handlers.py").write_text(HANDLERS)
        self.files = self.root / "files"
        self.files.mkdir()
        self.parsed = self.root / "parsed.jsonl"
        self._ca: Path | None = None

    def ca(self) -> Path:
        if self._ca is None:
            self._ca = make_test_pki(self.root / "pki").ca_cert
        return self._ca

    def path_for(self, path: str) -> Path:
        """
        The temporary file standing for the README's C{path}.

        @raise AssertionError: C{path} is not in L{PATHS}.
        """
        if path not in PATHS:
            raise AssertionError(
                f"the README's command uses {path!r}: add it to PATHS in "
                f"txzaqar.test.unit.test_readme_commands (a PEM CA: \"ca\"; else the file's text)"
            )
        if PATHS[path] == "ca":
            return self.ca()
        if PATHS[path] in DAEMONS:
            return self.bin / PATHS[path]
        target = self.files / path.strip("/").replace("/", "_")
        target.write_text(PATHS[path])
        return target

    def substitute(self, text: str) -> tuple[str, dict[str, str]]:
        """C{text} with every absolute path replaced; and what replaced what."""
        mapping = {p: str(self.path_for(p)) for p in sorted(set(_ABSOLUTE.findall(text)))}
        return _ABSOLUTE.sub(lambda m: mapping[m.group(0)], text), mapping

    def run(self, text: str) -> tuple[int, str, list[dict[str, Any]]]:
        """
        Run C{text} with C{bash -e}, as printed but for the paths.

        @return: the exit status, stdout and stderr, and what each stand-in parsed.
        """
        script, _ = self.substitute(text)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OS_", "ZAQAR_", "TXZAQAR_ZAQAR"))}
        env.update(PATH=f"{self.bin}{os.pathsep}{env.get('PATH', '')}",
                   HOME=str(self.root),  # no ~/.config/openstack/clouds.yaml of the machine
                   README_PARSED=str(self.parsed), COLUMNS="80")
        if self.parsed.exists():
            self.parsed.unlink()
        done = subprocess.run(["bash", "-e", "-c", script], cwd=self.cwd, env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=120)
        parsed = [json.loads(line) for line in self.parsed.read_text().splitlines()] \
            if self.parsed.exists() else []
        return done.returncode, done.stdout, parsed


#: What C{%d} (the unit's credentials directory) becomes in L{systemd_script}.
CREDENTIALS = "$CREDENTIALS_DIRECTORY"


def systemd_script(text: str) -> str:
    """
    The shell equivalent of a systemd unit's lines that shape its command:
    C{Environment=} (exported), C{EnvironmentFile=} (sourced, exported),
    C{LoadCredential=ID:PATH} (PATH copied to C{ID} in
    C{$CREDENTIALS_DIRECTORY}, C{credentials} of the working directory)
    and C{ExecStart=} (its prefixes C{@-:+!} dropped, C{%d} the credentials
    directory); the rest, such as C{WorkingDirectory=} (the test's own is
    used), does not matter here.
    """
    script = []
    for line in re.sub(r"\\\n\s*", " ", text).splitlines():
        key, _, value = line.strip().partition("=")
        if key == "Environment":
            script.append(f"export {value}")
        elif key == "EnvironmentFile":
            script.append(f"set -a; . {value.lstrip('-')}; set +a")
        elif key == "LoadCredential":
            name, _, path = value.partition(":")
            script.append(f'mkdir -p credentials; export CREDENTIALS_DIRECTORY="$PWD/credentials"; '
                          f'cp {path} "$CREDENTIALS_DIRECTORY/{name}"')
        elif key == "ExecStart":
            script.append(value.lstrip("@-:+!").replace("%d", CREDENTIALS))
    return "\n".join(script) + "\n"


def shell_text(block: readme.Block) -> str:
    """What bash runs for a block: a shell block as printed, a systemd unit as L{systemd_script}."""
    return systemd_script(block.text) if block.kind == "ini" else block.text


def daemon_commands(block: readme.Block) -> list[list[str]]:
    """The C{twistd}/C{twist} command lines of a block, split as the shell does."""
    found = []
    script = readme.Block(block.section, "sh", shell_text(block), block.line)
    for command in script.commands():
        for part in re.split(r"&&|\|\||;|\|", command):
            argv = shlex.split(part)
            if argv and os.path.basename(argv[0]) in DAEMONS:
                found.append(argv)
    return found


def daemon_blocks() -> list[readme.Block]:
    """
    Every shell block (or systemd unit) of the README that runs the daemon;
    not the copy of its C{--help} output, which shows no command.
    """
    return [b for b in readme.blocks()
            if b.kind in (*SHELL_KINDS, "ini") and not b.first_line.startswith("Usage: ")
            and daemon_commands(b)]


def printed_options(argv: list[str]) -> list[tuple[str, str | None]]:
    """
    The plugin's options of a command line as printed, in order: C{(name,
    value)}, C{value} C{None} for a flag.  Only the arguments after the
    plugin's name.
    """
    options = _tap.Options()
    takes_value = {name[:-1] for name in options.longOpt if name.endswith("=")}
    args = argv[argv.index("zaqar-listen") + 1:]
    found: list[tuple[str, str | None]] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if name in takes_value and not eq:
                i += 1
                value = args[i]
            found.append((name, value if name in takes_value else None))
        i += 1
    return found


class TwistdCommandTests(SynchronousTestCase):
    """
    Each README command running the daemon parses, as printed, to the
    options it prints.
    """

    def setUp(self) -> None:
        self.world = ShellWorld()

    def check_block(self, block: readme.Block) -> None:
        code, output, parsed = self.world.run(shell_text(block))
        self.assertEqual(code, 0, f"{block.describe()} failed:\n{output}")
        commands = daemon_commands(block)
        self.assertEqual(len(parsed), len(commands), output)
        _, mapping = self.world.substitute(shell_text(block))
        for argv, result in zip(commands, parsed, strict=True):
            self.assertEqual(result["program"], os.path.basename(argv[0]))
            self.assertEqual(result["command"], "zaqar-listen")
            self.check_options(block, argv, result, mapping)

    def check_options(self, block: readme.Block, argv: list[str], result: dict[str, Any],
                      mapping: dict[str, str]) -> None:
        where = f"{block.describe()}: "
        queues = [value for name, value in printed_options(argv) if name == "queue"]
        self.assertEqual(result["queues"], queues, where + "--queue")
        for name, value in printed_options(argv):
            parsed = result["options"].get(name)
            if name == "queue":
                continue
            if value is None:
                self.assertTrue(parsed, where + f"--{name}")
            elif name == "handler":
                module, _, function = value.partition(":")
                self.assertEqual(result["options"]["handler"], value, where)
                self.assertEqual(result["handler"][:2], [module, function], where)
                self.assertTrue(result["handler"][2].startswith(str(self.world.cwd)), result["handler"])
            elif re.fullmatch(r"-?[\d.]+", value):
                self.assertEqual(float(parsed), float(value), where + f"--{name}")
            else:
                expected = mapping.get(value, value).replace(CREDENTIALS, str(self.world.cwd / "credentials"))
                self.assertEqual(parsed, expected, where + f"--{name}")
        keystone = any(name in ("os-auth-url", "os-cloud") for name, _ in printed_options(argv)) \
            or "OS_AUTH_URL=" in shell_text(block) or "OS_CLOUD=" in shell_text(block)
        self.assertEqual(result["keystone"] is not None, keystone, where + "Keystone or not")

    def test_readme_blocks(self) -> None:
        """
        Every shell block with a twistd command (today the two of the
        daemon's section) runs and each of its commands parses as printed.
        """
        found = daemon_blocks()
        self.assertGreaterEqual(len(found), 2, [b.describe() for b in found])
        for block in found:
            with self.subTest(block=block.describe()):
                self.check_block(block)

    def test_keystone_command_reads_the_exports(self) -> None:
        """
        The Keystone command parses only with its C{export} line applied:
        without it, C{--os-password-file} has no Keystone to go with.
        """
        (block,) = [b for b in daemon_blocks() if b.first_line.startswith("export ")]
        (argv,) = daemon_commands(block)
        code, output, parsed = self.world.run(shlex.join(argv))
        self.assertNotEqual(code, 0, output)
        self.assertIn("--os-password-file needs --os-auth-url", output)

    def test_a_mismatch_fails(self) -> None:
        """A command the daemon no longer takes fails the run, with the daemon's reason."""
        block = daemon_blocks()[0]
        code, output, parsed = self.world.run(block.text.replace("--queue orders", "--queue orders --batch 99"))
        self.assertEqual((code, parsed), (64, []))  # EX_USAGE
        self.assertIn("--batch must be from 1 to 20, not 99", output)

    def test_unknown_path_fails(self) -> None:
        """An absolute path the test does not know is an error that says where to add it."""
        error = self.assertRaises(AssertionError, self.world.run, "twistd -n --pidfile= zaqar-listen --cacert /etc/x/ca.pem")
        self.assertIn("add it to PATHS", str(error))

    def test_ca_is_a_certificate(self) -> None:
        """C{/etc/ssl/our-ca.pem} stands for a real PEM CA, which the daemon's checks load."""
        text, mapping = self.world.substitute("--cacert /etc/ssl/our-ca.pem")
        self.assertIn("BEGIN CERTIFICATE", Path(mapping["/etc/ssl/our-ca.pem"]).read_text())
        self.assertEqual(text, f"--cacert {mapping['/etc/ssl/our-ca.pem']}")

    def test_systemd_unit(self) -> None:
        """
        A systemd unit's C{ExecStart=} runs with its C{Environment=} and
        C{EnvironmentFile=}; a program named by its path is the stand-in
        once L{PATHS} says so.
        """
        unit = textwrap.dedent("""\
            [Service]
            WorkingDirectory=/srv/orders
            Environment="OS_AUTH_URL=https://keystone.example:5000/v3" OS_USERNAME=worker
            EnvironmentFile=-/etc/orders/env
            ExecStart=/srv/orders/venv/bin/twistd --nodaemon --pidfile= zaqar-listen \\
                --os-password-file /etc/orders/password --queue orders
            """)
        block = readme.Block("Operations", "ini", unit, 1)
        self.assertEqual(len(daemon_commands(block)), 1)
        self.patch(sys.modules[__name__], "PATHS", dict(
            PATHS, **{"/srv/orders/venv/bin/twistd": "twistd",
                      "/etc/orders/env": "OS_PROJECT_NAME=orders\nOS_USER_DOMAIN_NAME=Default\n"
                                         "OS_PROJECT_DOMAIN_NAME=Default\n"}))
        self.check_block(block)
        self.assertEqual(json.loads(self.world.parsed.read_text())["queues"], ["orders"])

    def test_printed_options(self) -> None:
        self.assertEqual(
            printed_options(["twistd", "-n", "zaqar-listen", "--queue", "a", "--insecure", "--batch=3"]),
            [("queue", "a"), ("insecure", None), ("batch", "3")],
        )


def run_help(*args: str, cwd: Path | None = None) -> str:
    """The output of C{python ARGS}; the test fails unless it exits 0."""
    done = subprocess.run([sys.executable, *args], cwd=cwd, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=120, env=dict(os.environ, COLUMNS="200"))
    if done.returncode != 0:
        raise AssertionError(f"python {' '.join(args)} exited {done.returncode}:\n{done.stdout}")
    return done.stdout


def inline_options(text: str) -> set[str]:
    """The C{--options} named in C{text}'s inline literals."""
    return {m for literal in re.findall(r"``(.+?)``", text, re.S)
            for m in re.findall(r"(?<![\w-])--[a-z][a-z-]*", literal)}


class ProseOptionTests(SynchronousTestCase):
    """The options and commands named in the README's prose exist."""

    def test_daemon_options(self) -> None:
        """Every C{--option} of the daemon's section is an option of zaqar-listen (or twistd)."""
        named = inline_options(readme.section_text(readme.DAEMON))
        self.assertGreaterEqual(len(named), 20, named)
        listen = {"--" + name.rstrip("=") for name in _tap.Options().longOpt}
        from twisted.scripts.twistd import ServerOptions

        twistd = {"--" + name.rstrip("=") for name in ServerOptions().longOpt}
        self.assertEqual(sorted(named - listen - twistd), [])

    def test_testing_cli(self) -> None:
        """C{python -m txzaqar.testing serve}, C{run -- CMD}, C{prepare} and their options."""
        text = readme.readme_text()
        for command in ("serve", "run", "prepare"):
            self.assertIn(f"python -m txzaqar.testing {command}", text)
        for command in ("serve", "run"):
            usage = run_help("-m", "txzaqar.testing", command, "--help")
            for option in ("--keystone", "--pooling", "--mode"):
                self.assertIn(option, usage)
            self.assertIn("builtin", usage)
        self.assertIn("``--mode builtin``", text)
        run_help("-m", "txzaqar.testing", "prepare", "--help")

    def test_demo(self) -> None:
        """C{python -m txzaqar.demo --url URL}."""
        self.assertIn("``python -m txzaqar.demo --url URL``", readme.readme_text())
        self.assertIn("--url URL", run_help("-m", "txzaqar.demo", "--help"))

    def test_bench(self) -> None:
        """The options of the benchmark block's comment, against C{python -m bench --help}."""
        tree = readme.source_dir()
        if tree is None or not (tree / "bench").is_dir():
            raise self.skipTest(f"no source checkout with bench/ (set ${readme.SOURCE_DIR_ENV})")
        (block,) = readme.section_blocks("Benchmarks")
        comment = [line for line in block.text.splitlines() if "python -m bench" in line]
        self.assertEqual(len(comment), 1, block.text)
        usage = " ".join(run_help("-m", "bench", "--help", cwd=tree).split())
        for option in re.findall(r"--[a-z-]+", comment[0]):
            self.assertIn(option, usage)
        only = re.search(r"--only ([\w,]+)", comment[0])
        assert only is not None
        self.assertIn(f"(default all: {only.group(1)})", usage)

    def test_tox_envs(self) -> None:
        """Every C{tox -e NAME} of the README is an env of tox.ini."""
        tree = readme.source_dir()
        if tree is None:
            raise self.skipTest(f"no source checkout (set ${readme.SOURCE_DIR_ENV})")
        named = set(re.findall(r"tox -e ([\w-]+)", readme.readme_text()))
        self.assertGreaterEqual(named, {"demo", "bench", "bench-smoke", "unit"})
        self.assertEqual(sorted(named - readme.tox_envs(tree / "tox.ini")), [])
