"""Name → implementation registries for collectors, import formats, detectors and sinks.

A plugin is one module that decorates its class with `@REGISTRY.register("name")`. Built-in plugins are
discovered by importing every module of their package (so adding a provider touches no other file);
third-party ones through the entry-point group named by the registry, or modules named in the
SPENDWATCH_PLUGINS environment variable (comma-separated, importable from sys.path). Discovery is lazy: nothing is
imported until a name is looked up, which keeps `spendwatch --help` fast.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Holds what plugins of one kind exist; unknown names raise KeyError listing the known ones."""

    def __init__(self, kind: str, package: str, entry_point_group: str) -> None:
        self.kind = kind
        self.package = package
        self.entry_point_group = entry_point_group
        self._items: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise RuntimeError(f"{self.kind} {name!r} registered twice")
            self._items[name] = obj
            try:
                setattr(obj, "registry_name", name)  # noqa: B010  (T is any plugin object: no declared attribute)
            except (AttributeError, TypeError):
                pass
            return obj

        return decorate

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        pkg = importlib.import_module(self.package)
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{self.package}.{info.name}")
        # Extra plugin modules without packaging: SPENDWATCH_PLUGINS="mymod,otherpkg.mod" (on sys.path).
        import os

        for mod in filter(None, (m.strip() for m in os.environ.get("SPENDWATCH_PLUGINS", "").split(","))):
            importlib.import_module(mod)
        try:
            from importlib.metadata import entry_points

            for ep in entry_points(group=self.entry_point_group):
                ep.load()
        except Exception:  # a broken third-party plugin must not take the built-ins down
            pass

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise KeyError(f"unknown {self.kind} {name!r} (known: {known})") from None

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        self._load()
        return iter(sorted(self._items.items()))

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items


def no_options() -> type[Any]:
    """Options class for plugins that take no type-specific keys."""
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class NoOptions:
        pass

    return NoOptions
