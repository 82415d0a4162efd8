"""
C{txzaqar}'s options: the daemon's connection and credential options
(L{txzaqar.daemon._credentials}), C{--format}, and a sub-command per word
of L{txzaqar.cli._commands.COMMANDS}.
"""

from __future__ import annotations

import getopt
import json
import sys
from typing import Any

from twisted.python import usage

from ..daemon._credentials import (
    CONNECTION_FLAGS,
    CONNECTION_PARAMETERS,
    CredentialOptions,
    signed_url_options,
)
from ._commands import COMMANDS, Command
from ._output import FORMATS, default_format

#: Options whose value is JSON, parsed when the options are.
JSON_OPTIONS = ("metadata", "options")


class CommandOptions(usage.Options):
    """The options of one command; C{command} is its L{Command}."""

    #: The command these options are for (set on each subclass).
    command: Command

    def parseOptions(self, options: Any = None) -> None:
        # Options may follow the arguments (queue create jobs --metadata {}): getopt's GNU order,
        # given to usage.Options (which stops at the first argument) as options, "--", arguments.
        argv = list(sys.argv[1:] if options is None else options)
        try:
            found, args = getopt.gnu_getopt(argv, self.shortOpt, self.longOpt)
        except getopt.error as e:
            raise usage.UsageError(str(e)) from None
        ordered: list[str] = []
        for name, value in found:
            takes = (name[2:] + "=") in self.longOpt if name.startswith("--") else (name[1:] + ":") in self.shortOpt
            ordered += [name, value] if takes else [name]
        super().parseOptions([*ordered, "--", *args])

    def parseArgs(self, *args: str) -> None:
        names = self.command.arguments
        last = names[-1] if names else ""
        rest = last.endswith(("...", "*"))
        fixed = names[:-1] if rest else names
        least = len(fixed) + (1 if last.endswith("...") else 0)
        if len(args) < least or (not rest and len(args) > len(fixed)):
            wanted = " ".join(n.upper() for n in names) or "no arguments"
            raise usage.UsageError(f"{' '.join(self.command.words)} takes {wanted}, not {len(args)} argument(s)")
        for name, value in zip(fixed, args, strict=False):
            self[name] = value
        if rest:
            self[last.rstrip(".*")] = list(args[len(fixed):])

    def postOptions(self) -> None:
        for flag in self.command.flags:
            self[flag[0]] = bool(self[flag[0]])
        for name in self.command.integers:
            value = self[name]
            if value is None:
                continue
            try:
                self[name] = int(value)
            except ValueError:
                raise usage.UsageError(f"--{name} must be an integer, not {value!r}") from None
        for name in JSON_OPTIONS:
            if isinstance(self.get(name), str):
                try:
                    self[name] = json.loads(self[name])
                except ValueError as e:
                    raise usage.UsageError(f"{name}: not JSON ({e})") from None


class _OwnSynopsis:
    """
    The usage line is this command's own: Twisted would put its parents'
    lines before it (C{Usage: txzaqar ... post Usage: txzaqar ... post ...}).
    """

    synopsis: str

    def getSynopsis(self) -> str:
        return self.synopsis


def _command_options(command: Command) -> type[CommandOptions]:
    arguments = " ".join(a.upper() for a in command.arguments)
    return type(f"Options_{'_'.join(command.words)}", (_OwnSynopsis, CommandOptions), {
        "command": command,
        "synopsis": f"Usage: txzaqar [global options] {' '.join(command.words)} [options] {arguments}".rstrip(),
        "longdesc": command.summary,
        "optParameters": [list(p) for p in command.parameters],
        "optFlags": [list(f) for f in command.flags],
    })


class GroupOptions(usage.Options):
    """A word with commands under it (C{queue}, C{message}, ...)."""

    #: Its commands (set on each subclass).
    subCommands: list[list[Any]] = []

    def postOptions(self) -> None:
        if self.subCommand is None:
            names = ", ".join(name for name, *_ in self.subCommands)
            raise usage.UsageError(f"give a command: {names}")


def _sub_commands(commands: list[Command], depth: int) -> list[list[Any]]:
    rows: list[list[Any]] = []
    seen: dict[str, list[Command]] = {}
    for command in commands:
        seen.setdefault(command.words[depth], []).append(command)
    for word, under in seen.items():
        if len(under) == 1 and len(under[0].words) == depth + 1:
            rows.append([word, None, _command_options(under[0]), under[0].summary])
        else:
            group = type(f"Options_{word}", (_OwnSynopsis, GroupOptions), {
                "subCommands": _sub_commands(under, depth + 1),
                "synopsis": f"Usage: txzaqar [global options] {word} COMMAND [options]",
            })
            rows.append([word, None, group, f"{word} commands: " + ", ".join(c.words[depth + 1] for c in under)])
    return rows


class Options(CredentialOptions, usage.Options):
    """C{txzaqar}'s global options and its commands."""

    synopsis = "Usage: txzaqar [--url URL --project-id ID | Keystone options | --signed-url-file FILE] COMMAND ..."
    longdesc = ("A command line for OpenStack Zaqar. Exit statuses: 0 done, 1 failed, 64 usage, "
                "69 Zaqar or Keystone unavailable, 77 credentials or permissions refused. "
                "'txzaqar COMMAND --help' shows a command's options.")

    optFlags = [*CONNECTION_FLAGS, ["version", None, "print txzaqar's version and exit"]]
    optParameters = [
        *CONNECTION_PARAMETERS,
        ["signed-url-file", None, None, "act with nothing but a pre-signed URL: a file holding the JSON of "
                                        "'txzaqar queue signed-url' (or Queue.share()); replaces "
                                        "--project-id and Keystone"],
        ["roles", None, None, "X-Roles for a noauth server, comma-separated (admin for pool and flavor "
                              "commands); with --project-id only"],
        ["format", "f", None, "table or json (one object per line) [default: table on a terminal, else json]"],
    ]
    subCommands = _sub_commands(list(COMMANDS), 0)

    def opt_version(self) -> None:
        """Print txzaqar's version and exit."""
        from .. import __version__

        print(f"txzaqar {__version__}")
        raise SystemExit(0)

    def postOptions(self) -> None:
        if self.subCommand is None:
            raise usage.UsageError("give a command (txzaqar --help lists them)")
        fmt = self["format"] or default_format(sys.stdout)
        if fmt not in FORMATS:
            raise usage.UsageError(f"--format must be table or json, not {fmt!r}")
        self["format"] = fmt
        self.credential_options(signed_url_options)
        if self["roles"] is not None and (self["keystone"] or self.get("signed-url")):
            raise usage.UsageError("--roles is only sent to a noauth server (with --project-id): drop it")

    def leaf(self) -> CommandOptions:
        """The options of the command given."""
        options: Any = self.subOptions
        while not isinstance(options, CommandOptions):
            options = options.subOptions
        return options
