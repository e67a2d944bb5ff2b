"""One generic registry for methods, datasets and (later) feature extractors.

Registration is by decorator; names are validated because they become file and folder names in
the result store; a duplicate name is an error; an unknown name raises with close matches.
Out-of-tree plugins arrive through an ``importlib.metadata`` entry-point group, loaded lazily the
first time the registry is read.
"""

from __future__ import annotations

import fnmatch
import importlib
import re
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from bench.errors import BenchError, did_you_mean

T = TypeVar("T")

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def check_name(name: str, kind: str = "name") -> str:
    """Return ``name`` if it is safe as a registry key and a path component, else raise."""
    if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
        raise BenchError(
            f"invalid {kind} {name!r}: use 1-64 lower-case letters, digits, '-', '_' or '.', "
            "starting with a letter or digit (names become file names)"
        )
    return name


class Registry(Generic[T]):
    """A name -> object table.

    ``kind`` is used in messages (``"method"``); ``base`` (optional) is a class every registered
    class must subclass; ``entry_point_group`` names the plugin group read on first lookup;
    ``builtins`` is a module whose import registers the built-in entries.
    """

    def __init__(
        self,
        kind: str,
        base: type | None = None,
        entry_point_group: str | None = None,
        builtins: str | None = None,
    ) -> None:
        self.kind = kind
        self.base = base
        self.entry_point_group = entry_point_group
        self.builtins = builtins
        self._items: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@registry.register("name")``."""
        check_name(name, self.kind + " name")

        def decorator(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise BenchError(f"{self.kind} {name!r} is registered twice; pick another name")
            if self.base is not None and not (
                isinstance(obj, type) and issubclass(obj, self.base)
            ):
                raise BenchError(
                    f"{self.kind} {name!r} must be a subclass of {self.base.__name__}, got {obj!r}"
                )
            if isinstance(obj, type):
                obj.name = name  # type: ignore[attr-defined]
            self._items[name] = obj
            return obj

        return decorator

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self.builtins:
            importlib.import_module(self.builtins)
        if self.entry_point_group:
            for ep in entry_points(group=self.entry_point_group):
                try:
                    ep.load()  # the plugin module registers itself on import
                except Exception as exc:  # a broken plugin must not hide the built-ins
                    raise BenchError(
                        f"plugin {ep.name!r} ({ep.value}) in entry-point group "
                        f"{self.entry_point_group!r} failed to load: {exc}"
                    ) from exc

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._items[name]
        except KeyError:
            raise BenchError(
                f"unknown {self.kind} {name!r}" + did_you_mean(name, self._items)
            ) from None

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell-style ``pattern``, sorted."""
        self._load()
        return sorted(n for n in self._items if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
