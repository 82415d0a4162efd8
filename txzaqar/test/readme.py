"""
The README's code blocks, as the tests that run them see them: each block
with its section, its kind (C{python}, C{sh}, C{ini}, C{yaml}, or
C{literal} for a C{::} block) and, for shell blocks, its commands with
continuation lines joined.
"""

from __future__ import annotations

import configparser
import os
import re
import textwrap
from importlib import metadata
from pathlib import Path

import attr

#: The source checkout, as tox.ini's C{tests} env names it (its tests run
#: the installed package, whose files are not the checkout's).
SOURCE_DIR_ENV = "TXZAQAR_SOURCE_DIR"


def source_dir() -> Path | None:
    """
    The source checkout: C{$TXZAQAR_SOURCE_DIR}, else the tree this module
    is in if it is one (it has C{tox.ini}); C{None} for an installed package.
    """
    given = os.environ.get(SOURCE_DIR_ENV)
    if given:
        return Path(given).resolve()
    tree = Path(__file__).resolve().parents[2]
    return tree if (tree / "tox.ini").exists() else None


def _readme_path() -> Path:
    tree = source_dir()
    return (tree if tree is not None else Path(__file__).resolve().parents[2]) / "README.rst"


#: The checkout's README (the tests fall back to the installed metadata).
README = _readme_path()

_UNDERLINE = re.compile(r"^(=+|-+|~+)$")
_DIRECTIVE = re.compile(r"^\.\. code-block:: *(\w+)\s*$")


@attr.s(frozen=True, auto_attribs=True)
class Block:
    """One code block of the README."""

    section: str
    kind: str
    text: str
    line: int  # 1-based line of its first line

    @property
    def first_line(self) -> str:
        """Its first line, stripped."""
        return self.text.splitlines()[0].strip()

    def describe(self) -> str:
        """Where it is and how it starts, for a failure message."""
        return f"the {self.kind} block at README.rst line {self.line} in section {self.section!r}: {self.first_line!r}"

    def commands(self) -> list[str]:
        """The shell commands of the block: comments dropped, C{\\}-continued lines joined."""
        commands: list[str] = []
        pending = ""
        for raw in self.text.splitlines():
            line = raw.split(" # ", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
            if not line and not pending:
                continue
            if line.endswith("\\"):
                pending += line[:-1].strip() + " "
                continue
            commands.append((pending + line.strip()).strip())
            pending = ""
        return [c for c in commands if c]


def readme_text(readme: Path = README) -> str:
    """The README of the checkout, else the installed distribution's long description."""
    if readme.exists():
        return readme.read_text(encoding="utf-8")
    return str(metadata.metadata("txzaqar").get_payload())  # type: ignore[attr-defined]


def blocks(text: str | None = None) -> list[Block]:
    """Every code block of the README, in order."""
    lines = (readme_text() if text is None else text).splitlines()
    found: list[Block] = []
    section = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and line.strip() and _UNDERLINE.match(lines[i + 1]) \
                and len(lines[i + 1]) >= len(line.rstrip()):
            section = line.strip()
            i += 2
            continue
        directive = _DIRECTIVE.match(line.strip())
        kind = directive.group(1) if directive else ("literal" if line.rstrip().endswith("::") else None)
        if kind is None or line.lstrip().startswith(".. ") and not directive:
            i += 1
            continue
        indent = len(line) - len(line.lstrip())
        j = i + 1
        body: list[str] = []
        start = None
        while j < len(lines):
            current = lines[j]
            if current.strip() and len(current) - len(current.lstrip()) <= indent:
                break
            if current.strip() and start is None:
                start = j
            if start is not None:
                body.append(current)
            j += 1
        while body and not body[-1].strip():
            body.pop()
        if body and start is not None:
            found.append(Block(section, kind, textwrap.dedent("\n".join(body)) + "\n", start + 1))
        i = j
    return found


def section_text(title: str, text: str | None = None) -> str:
    """
    The text of the section called C{title}, prose and blocks, up to the
    next title of any level.

    @raise AssertionError: there is no such section.
    """
    lines = (readme_text() if text is None else text).splitlines()
    body: list[str] = []
    inside = False
    for i, line in enumerate(lines):
        heading = i + 1 < len(lines) and line.strip() and _UNDERLINE.match(lines[i + 1]) \
            and len(lines[i + 1]) >= len(line.rstrip())
        if heading:
            if inside:
                break
            inside = line.strip() == title
            continue
        if inside and not _UNDERLINE.match(line):
            body.append(line)
    if not inside:
        raise AssertionError(f"no section {title!r} in the README")
    return "\n".join(body) + "\n"


def section_blocks(title: str, kind: str | None = None) -> list[Block]:
    """The blocks of the section called C{title} (and of C{kind})."""
    return [b for b in blocks() if b.section == title and (kind is None or b.kind == kind)]


# -- the registry: how each block of the README is proven ----------------


@attr.s(frozen=True, auto_attribs=True)
class Run:
    """
    A test of this suite runs the block: the dotted name of that test (a
    module, a C{TestCase} or a test method; the registry test imports it).
    """

    test: str


@attr.s(frozen=True, auto_attribs=True)
class ProvedBy:
    """
    Something other than a test of this suite runs the block: what and how.

    @ivar how: the sentence a reader needs (which command, what it does).
    @ivar tox_env: the tox env that runs it (checked to exist in C{tox.ini}).
    @ivar ci_command: a line of C{.ci/run} that runs it (checked to be there).
    """

    how: str
    tox_env: str | None = None
    ci_command: str | None = None


@attr.s(frozen=True, auto_attribs=True)
class Entry:
    """
    One block of the README and its proof.

    @ivar section: the title of the block's section, as L{blocks} reads it.
    @ivar snippet: text the block's first line contains (unique in the
        section); ending it with C{$} means the line ends with it.
    """

    section: str
    snippet: str
    proof: Run | ProvedBy

    def matches(self, block: Block) -> bool:
        if block.section != self.section:
            return False
        if self.snippet.endswith("$"):
            return block.first_line.endswith(self.snippet[:-1])
        return self.snippet in block.first_line


_CODE = "txzaqar.test.integration.test_readme_code."
_COMMANDS = "txzaqar.test.unit.test_readme_commands."
DAEMON = "The daemon: ``twistd zaqar-listen``"
PRODUCTION = "Running it in production"
PUSH = "Push: messages in milliseconds"
_PUSH = "txzaqar.test.integration.test_readme_push."
_CODE_API = "txzaqar.test.integration.test_readme_code_api."

#: Every block of the README, and what proves it runs as printed.  A new
#: block fails L{txzaqar.test.unit.test_readme} until it has an entry here.
REGISTRY: tuple[Entry, ...] = (
    Entry("Install", "pip install txzaqar ", ProvedBy(
        "tox -e package builds the wheel and the sdist and pip-installs each (the name "
        "resolves to the built file) into a fresh virtualenv, then imports txzaqar and "
        "loads the zaqar-listen plugin; the [clouds] extra is what the tests and unit envs "
        "install (extras = clouds) and the clouds.yaml tests use",
        tox_env="package")),
    Entry("Install", "from twisted.internet.task import react", Run(_CODE + "InstallExampleTests")),
    Entry("Quick start", "python3 -m tox -e demo", Run("txzaqar.test.integration.test_demo.QuickStartDemoTests")),
    Entry("Quick start", "python3 -m tox p$", ProvedBy(
        ".ci/run runs exactly this (the whole default tox list, its envs two at a time on two "
        "cores); it is not run from a test, which would run the suite inside itself",
        ci_command="python3 -m tox p")),
    Entry("A tour of the API", "import txzaqar", Run(_CODE + "TourTests")),
    Entry("A tour of the API", "try:", Run(_CODE + "ErrorsTests")),
    Entry("Walking a large queue", "async def audit(", Run(_CODE_API + "WalkingTests")),
    Entry("Sharing a queue with a signed URL", "import datetime, json", Run(_CODE_API + "SharingTests")),
    Entry("The rest of the API, in brief", "async def more(", Run(_CODE_API + "RestOfTheAPITests")),
    Entry("The rest of the API, in brief", "async def pools_and_flavors(", Run(_CODE_API + "PoolsAndFlavorsTests")),
    Entry("The Subscriber", "async def handle(message):", Run(_CODE + "SubscriberTests.test_callbacks")),
    Entry("The Subscriber", 'subscriber.subscribe("jobs")', Run(_CODE + "SubscriberTests.test_listen")),
    Entry("The command line: ``txzaqar``", "export ZAQAR_URL=http://127.0.0.1:8888 OS_PROJECT_ID=demo",
          Run("txzaqar.test.integration.test_cli.ReadmeTests")),
    Entry("The command line: ``txzaqar``", "txzaqar queue create jobs-dead",
          Run("txzaqar.test.integration.test_cli.ReadmeTests.test_tail_and_redrive_block")),
    Entry(DAEMON, "twistd -n --pidfile= zaqar-listen --url", Run(_COMMANDS + "TwistdCommandTests")),
    Entry(DAEMON, "export OS_AUTH_URL=", Run(_COMMANDS + "TwistdCommandTests")),
    Entry(DAEMON, "twistd -n --pidfile= zaqar-listen --push websocket", Run(_COMMANDS + "TwistdCommandTests")),
    Entry(DAEMON, "# routes.toml", Run("txzaqar.test.unit.test_daemon_routes.ReadmeRoutesTests")),
    Entry(PUSH, "client = txzaqar.connect(", Run(_PUSH + "PushBlockTests.test_websocket")),
    Entry(PUSH, "from txzaqar.push import WebhookPush", Run(_PUSH + "PushBlockTests.test_webhook")),
    Entry(PUSH, "[storage]", Run(_PUSH + "ZaqarConfigurationTests")),
    Entry("All the options", "Usage: twistd [options] zaqar-listen",
          Run("txzaqar.test.unit.test_daemon_commandline.HelpInReadmeTests")),
    Entry("Metrics and health", "twistd -n --pidfile= zaqar-listen --url", Run(_COMMANDS + "TwistdCommandTests")),
    Entry("Metrics and health", "curl -s http://127.0.0.1:9102/metrics", ProvedBy(
        "test_daemon_metrics starts a daemon with --metrics on a free port and GETs /metrics "
        "(read with prometheus-client's parser), /healthz and /readyz, as these curl lines do",
        tox_env="tests")),
    Entry(PRODUCTION, "# /etc/systemd/system/orders-listener.service",
          Run("txzaqar.test.unit.test_readme_operations.SystemdUnitTests")),
    Entry(PRODUCTION, "twistd -n --pidfile= zaqar-listen --check", Run(
        "txzaqar.test.integration.test_daemon_startup.CheckModeTests.test_readme_command")),
    Entry(PRODUCTION, "# /etc/orders/listen.toml", Run(
        "txzaqar.test.unit.test_daemon_config.ReadmeFileTests")),
    Entry(PRODUCTION, "twist --log-format json", Run(
        "txzaqar.test.integration.test_daemon_operations.JSONLogTests")),
    Entry(PRODUCTION, "scrape_configs:", Run(
        "txzaqar.test.unit.test_readme_operations.SystemdUnitTests.test_prometheus_scrapes_the_metrics_port")),
    Entry("Authentication and TLS", "# no authentication", Run(_CODE + "AuthenticationTests")),
    Entry("Testing your handlers", "from twisted.trial.unittest import SynchronousTestCase",
          Run("txzaqar.test.unit.test_readme.ShippingTests")),
    Entry("Against a real Zaqar", "from twisted.internet import reactor", Run(_CODE + "AgainstRealZaqarTests")),
    Entry("Benchmarks", "python3 -m tox -e bench", ProvedBy(
        "the full benchmark takes about 40 minutes (--reps 2 --servers gunicorn: 41.5 min measured) "
        "and is run by hand; tox -e bench-smoke (in the default tox list, so in .ci/run) runs the "
        "same code, python -m bench --smoke, in about a minute; test_readme_commands checks the comment's options against "
        "python -m bench --help",
        tox_env="bench-smoke")),
    Entry("Reliability", "python3 -m tox -e faults", ProvedBy(
        "tox -e faults (in the default tox list, so in .ci/run) runs python -m "
        "txzaqar.test.reliability at CI sizes, then python -m txzaqar.test.reliability.broken, "
        "which requires a --break run (acknowledgement retries removed) to report the loss; "
        "--full, --only and the soak command run the "
        "same code at other sizes by hand; test_reliability_report checks every option of "
        "the block against the commands' --help",
        tox_env="faults")),
)


def find_block(section: str, snippet: str) -> Block:
    """
    The one block that an entry with this C{section} and C{snippet} names.

    @raise AssertionError: none or several match (the README changed).
    """
    entry = Entry(section, snippet, ProvedBy(""))
    found = [b for b in blocks() if entry.matches(b)]
    if len(found) != 1:
        raise AssertionError(
            f"{len(found)} README blocks in section {section!r} start with a line containing "
            f"{snippet!r}, not 1: update this test and txzaqar.test.readme.REGISTRY"
        )
    return found[0]


def tox_envs(tox_ini: Path) -> set[str]:
    """The env names C{tox.ini} defines or lists (C{{a,b}} factors expanded)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(tox_ini, encoding="utf-8")
    names = set(re.split(r"[\s,]+", parser.get("tox", "envlist", fallback="")))
    for section in parser.sections():
        if section.startswith("testenv:"):
            spec = section[len("testenv:"):]
            group = re.fullmatch(r"\{(.*)\}", spec)
            names.update(group.group(1).split(",") if group else [spec])
    return {n.strip() for n in names if n.strip()}
