"""
Where C{twistd zaqar-listen} takes its options from besides the command
line: the environment and a TOML file.

Every option of C{zaqar-listen --help} (but C{--help}, C{--version} and
C{--config} itself) may also be given

 - as an environment variable: L{ENV_PREFIX} and the option's long name in
   capitals with C{_} for C{-} (C{--claim-ttl 120} is
   C{ZAQAR_LISTEN_CLAIM_TTL=120}); a flag is C{1}, C{true}, C{yes} or
   C{on} (C{0}, C{false}, C{no}, C{off} or empty: not set); C{--queue}
   and C{--queue-pattern}, which repeat, take the names separated by
   commas or spaces;
 - as a key of the TOML file of C{--config FILE} (or
   C{ZAQAR_LISTEN_CONFIG=FILE}): the option's long name
   (C{claim-ttl = 120}); a flag is C{true} or C{false}; C{queue} (and
   C{queue-pattern}) is a name or a list of names.

Per option, the command line wins over the environment, which wins over
the file; a repeated option (C{--queue}) is taken whole from the first of
them that gives it, never merged.  The variables an option names as its
default (C{$ZAQAR_URL}, C{$OS_*}) stay what they are: the default when
none of the three gives the option.

Each value goes through the same parser and checks as on the command
line, and a refusal is the same one line, naming where the value came
from: C{ZAQAR_LISTEN_BATCH: --batch must be from 1 to 20, not 0}, or
C{config.toml: batch: ...}.  An unknown variable with the prefix, or an
unknown key in the file, is refused too (a typo would otherwise be
ignored).
"""

from __future__ import annotations

import getopt
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

from twisted.python import usage

from ._routes import route_from_table

__all__ = [
    "CONFIG_PARAMETERS",
    "ENV_PREFIX",
    "apply_sources",
    "command_line_names",
    "describe_sources",
    "name_the_source",
]

#: The prefix of the environment variables that set options.
ENV_PREFIX = "ZAQAR_LISTEN_"

#: The row of C{--config} for C{usage.Options.optParameters}.
CONFIG_PARAMETERS = [
    ["config", None, None, "read options from this TOML file (keys are the long option names, "
                           "e.g. claim-ttl = 120); each option may also be set as "
                           "$ZAQAR_LISTEN_<OPTION> (e.g. ZAQAR_LISTEN_CLAIM_TTL); the command line "
                           "wins over the environment, which wins over the file "
                           "[default: $ZAQAR_LISTEN_CONFIG]"],
]

#: Options that no other source sets.
_COMMAND_LINE_ONLY = frozenset({"help", "version", "config"})

#: Options that repeat on the command line (a list in the file).
REPEATED = frozenset({"queue", "queue-pattern", "route"})

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")

_OPTION_IN_MESSAGE = re.compile(r"--([a-z0-9][a-z0-9-]*)")


def command_line_names(options: usage.Options, argv: Sequence[str]) -> set[str]:
    """
    The long names of the options C{argv} gives (C{-b 5} is C{batch}), as
    C{options} will parse them; an argv that does not parse gives the
    names read so far (the parse itself then says what is wrong).
    """
    try:
        given, _ = getopt.getopt(list(argv), options.shortOpt, options.longOpt)
    except getopt.GetoptError:
        return set()
    names = set()
    for opt, _ in given:
        name = opt.lstrip("-")
        name = options.synonyms.get(name, options.synonyms.get(name.replace("-", "_"), name))
        names.add(name)
    return names


def _names(options: usage.Options) -> dict[str, str]:
    """C{{long name: "flag" | "parameter" | "repeated"}} of the options the sources may set."""
    kinds: dict[str, str] = {}
    flags = {row[0] for row in getattr(options, "optFlags", [])}
    for name in options._dispatch:
        if name in _COMMAND_LINE_ONLY or options.synonyms.get(name, name) != name:
            continue
        kinds[name] = "flag" if name in flags else "repeated" if name in REPEATED else "parameter"
    return kinds


def _env_name(option: str) -> str:
    return ENV_PREFIX + option.upper().replace("-", "_")


def _read_file(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise usage.UsageError(f"--config: cannot read {path!r}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise usage.UsageError(f"{path}: not TOML: {e}") from None


def _dispatch(options: usage.Options, name: str, value: str | None) -> None:
    handler = options._dispatch[name]
    if isinstance(handler, usage.CoerceParameter):
        handler.dispatch(name, value)
    else:
        handler(name, value)


def _from_environment(kind: str, label: str, text: str) -> list[str | None] | None:
    """The values to dispatch for one variable (C{None}: the flag is off)."""
    if kind == "flag":
        if text.strip().lower() in _TRUE:
            return [None]
        if text.strip().lower() in _FALSE:
            return None
        raise usage.UsageError(f"{label}: must be 1, true, yes or on (or 0, false, no, off), not {text!r}")
    if kind == "repeated":
        # a route has commas of its own (QUEUE=handler,concurrency=N)
        separators = r"[;\s]+" if label.endswith("_ROUTE") else r"[,\s]+"
        return [part for part in re.split(separators, text) if part]
    return [text]


def _from_file(kind: str, label: str, value: Any) -> list[str | None] | None:
    """The values to dispatch for one key of the file (C{None}: the flag is off)."""
    if kind == "flag":
        if not isinstance(value, bool):
            raise usage.UsageError(f"{label}: must be true or false, not {value!r}")
        return [None] if value else None
    values = value if kind == "repeated" and isinstance(value, list) else [value]
    texts: list[str | None] = []
    for item in values:
        if isinstance(item, dict) and label.endswith(": route"):
            texts.append(route_from_table(label, item))
            continue
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise usage.UsageError(f"{label}: must be a string or a number, not {item!r}")
        texts.append(str(item))
    return texts


def apply_sources(options: usage.Options, given: set[str], environ: Mapping[str, str] | None = None) -> None:
    """
    Set in C{options} (parsed from the command line, whose options are
    C{given}) every option the environment or the C{--config} file gives,
    by the precedence of this module; record where each came from (for
    L{name_the_source} and L{describe_sources}) in C{options["sources"]}.

    @raise usage.UsageError: one line naming the variable or the file and key.
    """
    env = os.environ if environ is None else environ
    kinds = _names(options)
    origins: dict[str, str] = {}
    options["sources"] = origins
    unknown = sorted(k for k in env if k.startswith(ENV_PREFIX) and k != ENV_PREFIX + "CONFIG"
                     and k[len(ENV_PREFIX):].lower().replace("_", "-") not in kinds)
    if unknown:
        raise usage.UsageError(f"{unknown[0]}: no such option (zaqar-listen --help lists them; "
                               f"the variable is {ENV_PREFIX}<OPTION>)")
    path = options["config"] or env.get(ENV_PREFIX + "CONFIG") or None
    options["config"] = path
    table = _read_file(path) if path else {}
    for key in table:
        if key not in kinds:
            raise usage.UsageError(f"{path}: {key}: no such option (zaqar-listen --help lists them)")
    for name, kind in kinds.items():
        if name in given:
            continue
        variable = _env_name(name)
        if variable in env:
            label = variable
            values = _from_environment(kind, label, env[variable])
        elif name in table:
            label = f"{path}: {name}"
            values = _from_file(kind, label, table[name])
        else:
            continue
        if values is None:
            continue
        origins[name] = label
        try:
            for value in values:
                _dispatch(options, name, value)
        except usage.UsageError as e:
            raise usage.UsageError(f"{label}: {e}") from None


def name_the_source(options: Mapping[str, Any], error: usage.UsageError) -> usage.UsageError:
    """
    C{error}, found after the sources were applied, with the source of the
    option it names first prefixed (C{ZAQAR_LISTEN_THREADS: --threads (12)
    must not be above ...}); unchanged when that option came from the
    command line or the message names none.
    """
    text = str(error)
    origins = options.get("sources") or {}
    match = _OPTION_IN_MESSAGE.search(text)
    if match is None or match.group(1) not in origins or text.startswith(origins[match.group(1)]):
        return error
    return usage.UsageError(f"{origins[match.group(1)]}: {text}")


def describe_sources(options: Mapping[str, Any]) -> str | None:
    """
    The line of C{--check} saying which options came from the environment
    and the file, or C{None} when all came from the command line.
    """
    origins: dict[str, str] = options.get("sources") or {}
    if not origins:
        return None
    from_env = sorted(label for label in origins.values() if label.startswith(ENV_PREFIX))
    from_file = sorted(name for name, label in origins.items() if not label.startswith(ENV_PREFIX))
    parts = []
    if from_env:
        parts.append("environment: " + ", ".join(from_env))
    if from_file:
        parts.append(f"{options['config']}: " + ", ".join(from_file))
    return "configuration read (the command line wins): " + "; ".join(parts)
