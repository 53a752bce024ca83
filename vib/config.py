"""Training configs: YAML files, inheritance through ``base:``, and ``section.key=value`` overrides.

A config may start from another: ``base: PATH`` (relative to the file that names it) loads
that config first, then this file's sections are laid over it key by key (``data: {augment:
...}`` replaces the base's ``data.augment`` and keeps its other ``data`` keys); a base may
have a base. Files are read with ``yaml.SafeLoader`` (numbers such as ``1e-3`` are numbers).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import yaml

from vib.errors import VibError, one_line


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-3`` as a string; configs mean the number."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def _read(path: Path) -> dict[str, Any]:
    try:
        with open(path) as f:
            config = yaml.load(f, Loader=_Loader) or {}
    except yaml.YAMLError as err:
        raise VibError(f"{path}: not valid YAML: {one_line(err)}") from None
    except OSError as err:
        raise VibError(f"cannot read config '{path}': {err.strerror}") from None
    if not isinstance(config, dict):
        raise VibError(f"{path}: expected a mapping of sections (model:, head:, ...), got a {type(config).__name__}")
    return config


def _layer(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over``'s sections laid over ``base``'s, key by key within mapping sections."""
    out = dict(base)
    for section, values in over.items():
        if isinstance(values, dict) and isinstance(out.get(section), dict):
            out[section] = {**out[section], **values}
        else:
            out[section] = values
    return out


def _with_bases(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    real = path.resolve()
    if real in seen:
        raise VibError(f"{path}: 'base:' makes a cycle ({' -> '.join(str(p) for p in (*seen, real))})")
    config = _read(path)
    base = config.pop("base", None)
    if base is None:
        return config
    if not isinstance(base, str):
        raise VibError(f"{path}: 'base:' must be a path, got {base!r}")
    return _layer(_with_bases(real.parent / base, (*seen, real)), config)


def load_config(path: str, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The config at ``path`` (its ``base:`` chain resolved) with ``section.key=value`` or
    top-level ``key=value`` (e.g. ``seed=1``) overrides (values parsed as YAML; ``1e-3`` is a
    number). A top-level override may not replace a whole section."""
    config = _with_bases(Path(path))
    for item in overrides:
        if "=" not in item or not item.split("=", 1)[0]:
            raise VibError(f"--set '{item}': expected section.key=value or key=value, e.g. train.epochs=3")
        dotted, value = item.split("=", 1)
        try:
            parsed = yaml.load(value, Loader=_Loader)
        except yaml.YAMLError as err:
            raise VibError(f"--set '{item}': the value is not valid YAML: {one_line(err)}") from None
        if "." not in dotted:
            if isinstance(config.get(dotted), dict):
                raise VibError(f"--set '{item}': '{dotted}' is a config section; set its keys ({dotted}.key=value)")
            config[dotted] = parsed
            continue
        section, key = dotted.split(".", 1)
        target = config.setdefault(section, {})
        if not isinstance(target, dict):
            raise VibError(f"--set '{item}': config section '{section}' is not a mapping")
        target[key] = parsed
    return config


__all__ = ["load_config"]
