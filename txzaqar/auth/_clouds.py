"""
Reading one cloud from C{clouds.yaml}, the file OpenStack tools share.

We read the file ourselves (with PyYAML, an optional dependency) rather
than depend on openstacksdk: the few keys a Zaqar client needs (C{auth},
C{auth_type}, C{region_name}, C{interface}, C{cacert}, C{cert}, C{key},
C{verify}) do not justify pulling in the whole SDK.  C{secure.yaml} is
merged over it the way openstacksdk does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ClientValidationError
from . import _environment as environment


def candidate_files(name: str, path: str | None = None) -> list[Path]:
    if path:
        return [Path(path)]
    env = environment.variable("OS_CLIENT_CONFIG_FILE") if name == "clouds" else None
    if env:
        return [Path(env)]
    return [
        Path.cwd() / f"{name}.yaml",
        Path.home() / ".config" / "openstack" / f"{name}.yaml",
        Path("/etc/openstack") / f"{name}.yaml",
    ]


def _read(path: Path) -> dict[str, Any]:
    try:
        import yaml  # type: ignore[import-untyped, unused-ignore]  # (reported once, where first imported)
    except ImportError:
        raise ClientValidationError(
            "os-cloud", "reading clouds.yaml needs PyYAML: pip install 'txzaqar[clouds]'"
        ) from None
    with path.open(encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ClientValidationError("os-cloud", f"{path} is not a mapping")
    return data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_cloud(cloud: str, path: str | None = None) -> dict[str, Any]:
    """
    @return: the settings of C{cloud} (C{auth}, C{region_name}, ...).
    @raise ClientValidationError: no file, or no such cloud in it.
    """
    found = [p for p in candidate_files("clouds", path) if p.is_file()]
    if not found:
        raise ClientValidationError("os-cloud", "no clouds.yaml found (looked in ./, ~/.config/openstack/, /etc/openstack/)")
    clouds = _read(found[0]).get("clouds") or {}
    if cloud not in clouds:
        raise ClientValidationError("os-cloud", f"no cloud {cloud!r} in {found[0]} (has: {', '.join(sorted(clouds))})")
    config = dict(clouds[cloud])
    secure = [p for p in candidate_files("secure") if p.is_file()] if path is None else []
    if secure:
        config = _merge(config, (_read(secure[0]).get("clouds") or {}).get(cloud) or {})
    return config
