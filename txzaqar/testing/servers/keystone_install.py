"""
Installing Keystone for tests: its virtualenv, its configuration file, its
key repositories, and a template database that every test Keystone copies.

Keystone (PyPI C{keystone==30.*}) gets its own virtualenv, like Zaqar's
(C{<state>/keystone-venv}, see L{ensure_keystone_venv}).  Start-up cost is
kept down in two ways:

  - C{keystone-manage db_sync} + C{bootstrap} run once per state directory,
    into a template database (C{<state>/keystone-template}, see
    L{ensure_keystone_template}); the identity endpoints that bootstrap
    registered with L{PLACEHOLDER_URL} are then pointed at the real server
    through the API.
  - the fernet, receipt and credential key repositories are written directly
    (L{write_key_repositories}: two fresh C{Fernet.generate_key()} keys each,
    exactly what C{keystone-manage fernet_setup} writes), so every Keystone
    has its own keys and never accepts another one's tokens.

Only the standard library is used in the calling process.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from .common import say
from .keystone_users import ADMIN, REGION
from .venv import FileLock, ensure_server_venv, ensure_venv, in_parallel, run_logged, state_dir, venv_marker

__all__ = [
    "KEYSTONE_EXECUTABLES",
    "KEYSTONE_REQUIREMENTS",
    "PLACEHOLDER_URL",
    "ensure_keystone_template",
    "ensure_keystone_venv",
    "keystone_conf",
    "prepare_keystone",
    "prepare_zaqar_and_keystone",
    "write_key_repositories",
]

#: What goes into the Keystone virtualenv.
KEYSTONE_REQUIREMENTS: tuple[str, ...] = ("keystone==30.*",)
#: Executables that must exist in a complete Keystone venv.
KEYSTONE_EXECUTABLES: tuple[str, ...] = ("python", "keystone-manage")
#: Bump when the template database's contents change.
_TEMPLATE_FORMAT = 1
#: The identity endpoints' URL in the template database (nothing listens there).
PLACEHOLDER_URL = "http://127.0.0.1:9/v3/"




def ensure_keystone_venv(
    directory: Path | str | None = None,
    requirements: Sequence[str] = KEYSTONE_REQUIREMENTS,
) -> Path:
    """
    Make sure the Keystone virtualenv (default C{<state>/keystone-venv})
    exists and is complete; build it if not (about 25 s, all wheels).  Same
    marker-file and file-lock rules as
    L{txzaqar.testing.servers.venv.ensure_server_venv}.
    """
    venv = Path(directory) if directory is not None else state_dir() / "keystone-venv"
    return ensure_venv(venv, ("setuptools", *requirements), KEYSTONE_EXECUTABLES, "Keystone")


def _fernet_key() -> bytes:
    return base64.urlsafe_b64encode(os.urandom(32))


def write_key_repositories(home: Path) -> dict[str, Path]:
    """Write fresh fernet/receipt/credential keys (what keystone-manage *_setup does)."""
    repos = {}
    for name in ("fernet-keys", "receipt-keys", "credential-keys"):
        repo = home / name
        if repo.exists():
            shutil.rmtree(repo)
        repo.mkdir(mode=0o700)
        for index in ("0", "1"):  # 0 = staged, highest = primary
            path = repo / index
            path.write_bytes(_fernet_key())
            path.chmod(0o600)
        repos[name] = repo
    return repos


def keystone_conf(home: Path, db: Path, token_ttl: int, log_file: Path, repos: dict[str, Path]) -> str:
    """
    The text of a C{keystone.conf}: SQLite database I{db}, fernet tokens valid
    I{token_ttl} seconds with the key repositories I{repos} (from
    L{write_key_repositories}), an in-process cache, cheap bcrypt.
    """
    return f"""\
[DEFAULT]
debug = false
log_file = {log_file}
[oslo_messaging_notifications]
driver = noop
[database]
connection = sqlite:///{db}
[token]
provider = fernet
expiration = {int(token_ttl)}
[fernet_tokens]
key_repository = {repos["fernet-keys"]}/
[fernet_receipts]
key_repository = {repos["receipt-keys"]}/
[credential]
key_repository = {repos["credential-keys"]}/
[identity]
password_hash_rounds = 4
[cache]
enabled = true
backend = dogpile.cache.memory
"""


def _template_marker(venv: Path) -> str:
    return json.dumps({"format": _TEMPLATE_FORMAT, "venv": venv_marker(venv)}, sort_keys=True)


def ensure_keystone_template(venv: Path | None = None) -> Path:
    """
    The template SQLite database (C{db_sync} + C{bootstrap} done, admin
    password C{admin-secret}), built once per state directory and Keystone
    venv.  Returns its path; L{KeystoneServer <txzaqar.testing.servers.keystone.KeystoneServer>} copies it.
    """
    venv = venv or ensure_keystone_venv()
    directory = state_dir() / "keystone-template"
    db = directory / "keystone.db"
    marker = directory / "marker.json"

    def complete() -> bool:
        try:
            return db.exists() and marker.read_text() == _template_marker(venv)
        except OSError:
            return False

    if complete():
        return db
    with FileLock(state_dir() / ".keystone-template.lock"):
        if complete():
            return db
        started = time.monotonic()
        if directory.exists():
            shutil.rmtree(directory)
        work = directory.with_name(f"keystone-template.tmp-{os.getpid()}")
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        repos = write_key_repositories(work)
        conf = work / "keystone.conf"
        conf.write_text(keystone_conf(work, work / "keystone.db", 3600, work / "keystone.log", repos))
        manage = [str(venv / "bin" / "keystone-manage"), "--config-file", str(conf)]
        env_cmd = ["env", "PYTHONWARNINGS=ignore"]
        log_path = work / "setup.log"
        with open(log_path, "w") as log:
            run_logged([*env_cmd, *manage, "db_sync"], log, "keystone-manage db_sync")
            run_logged(
                [
                    *env_cmd,
                    *manage,
                    "bootstrap",
                    "--bootstrap-password",
                    ADMIN.password,
                    "--bootstrap-username",
                    ADMIN.username,
                    "--bootstrap-project-name",
                    ADMIN.project_name,
                    "--bootstrap-role-name",
                    "admin",
                    "--bootstrap-service-name",
                    "keystone",
                    "--bootstrap-region-id",
                    REGION,
                    "--bootstrap-admin-url",
                    PLACEHOLDER_URL,
                    "--bootstrap-internal-url",
                    PLACEHOLDER_URL,
                    "--bootstrap-public-url",
                    PLACEHOLDER_URL,
                ],
                log,
                "keystone-manage bootstrap",
            )
        (work / "marker.json").write_text(_template_marker(venv))
        os.rename(work, directory)
        say(f"keystone template database ready in {time.monotonic() - started:.1f}s")
    return db




def prepare_keystone(venv: Path | None = None) -> Path:
    """The Keystone venv (at I{venv}, default C{<state>/keystone-venv}) and its template database, built if needed."""
    built = ensure_keystone_venv(venv)
    ensure_keystone_template(built)
    return built


def prepare_zaqar_and_keystone(
    venv: Path | None = None, keystone_venv: Path | None = None
) -> tuple[Path, Path]:
    """
    Build the Zaqar server venv, and the Keystone venv + template database,
    concurrently (each is a no-op when already built).  Returns
    C{(zaqar venv, keystone venv)}.

    @raise HarnessError: a build failed.
    """
    return in_parallel(
        lambda: ensure_server_venv(venv), lambda: prepare_keystone(keystone_venv), "keystone-venv"
    )
