"""Named constructors of one kind (models, heads, poolings, optimizers), built from a config section.

A constructor's signature is the only place its options and their defaults live: a config
section ``{type: NAME, key: value, ...}`` is checked against the signature of NAME's
constructor (an unknown key is an error naming it and the options NAME has), and
:meth:`Registry.defaults` reads the defaults back from there (for docs and error messages).
Register with a decorator beside the class::

    HEADS = Registry("head")

    @HEADS.register("aam")
    class AAMHead(nn.Module):
        def __init__(self, embed_dim: int, num_classes: int, scale: float = 32.0, margin: float = 0.2): ...
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping

from vib.errors import VibError


class Registry:
    """``NAME -> constructor`` for one kind of component; ``fixed`` arguments (e.g. ``embed_dim``)
    are supplied by the code that builds it, never by the config."""

    def __init__(self, kind: str, key: str = "type"):
        self.kind, self.key = kind, key
        self._entries: dict[str, Callable] = {}

    def register(self, name: str) -> Callable[[Callable], Callable]:
        def add(constructor: Callable) -> Callable:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._entries[name] = constructor
            return constructor
        return add

    def names(self) -> list[str]:
        return sorted(self._entries)

    def get(self, name: str) -> Callable:
        if name not in self._entries:
            raise VibError(f"unknown {self.kind} {self.key} '{name}': expected {', '.join(self.names())}")
        return self._entries[name]

    def _parameters(self, name: str) -> dict[str, inspect.Parameter]:
        return {p.name: p for p in inspect.signature(self.get(name)).parameters.values()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}

    def defaults(self, name: str, fixed: tuple[str, ...] = ()) -> dict[str, Any]:
        """The configurable options of ``name`` with their defaults (required ones map to ``inspect.Parameter.empty``)."""
        return {k: p.default for k, p in self._parameters(name).items() if k not in fixed}

    def resolve(self, section: Mapping[str, Any], default: str, fixed: tuple[str, ...] = ()
                ) -> tuple[str, Callable, dict[str, Any]]:
        """``(name, constructor, options)`` of a config section: ``section[key]`` (or ``default``)
        names the constructor, the other keys are its options, each checked against its signature."""
        options = dict(section)
        name = options.pop(self.key, default)
        allowed = self.defaults(name, fixed)
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise VibError(f"{self.kind} '{name}' has no option(s) {', '.join(unknown)} "
                           f"(its options: {', '.join(allowed) or 'none'})")
        missing = [k for k, v in allowed.items() if v is inspect.Parameter.empty and k not in options]
        if missing:
            raise VibError(f"{self.kind} '{name}' needs option(s) {', '.join(missing)}")
        return name, self.get(name), options

    def build(self, section: Mapping[str, Any], default: str, **fixed: Any) -> Any:
        """The constructor named by ``section`` called with ``fixed`` and the section's options."""
        _, constructor, options = self.resolve(section, default, tuple(fixed))
        try:
            return constructor(**fixed, **options)
        except (ValueError, TypeError) as err:
            raise VibError(f"{self.kind} {dict(section)}: {err}") from None


__all__ = ["Registry"]
