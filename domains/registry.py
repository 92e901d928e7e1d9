"""One small name -> factory registry, shared by methods, suites and metrics.

It lives in ``domains`` because that is the top of the one-way flow
(domains -> methods -> bench -> reports): every other stage may import it.
An unknown name is a user error that lists the known names and suggests the
closest one, because a typo in a spec should cost seconds, not a traceback.

A registry is complete whenever it is read: it names its built-in modules and
imports them on first use, so no importer can see it half-filled. An entry's
name is written once, at registration (``@METHODS.register("maml", ...)``); a
registered class gets it as its ``name`` attribute.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """A name that is not registered; ``str()`` is the full one-line message."""

    def __init__(self, kind: str, name: str, known: list[str]):
        self.kind, self.name, self.known = kind, name, known
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        self.message = f"unknown {kind} '{name}'.{hint} Known {kind}s: {', '.join(known) or '(none)'}."
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class Registry(Generic[T]):
    """Maps names to entries (factories or objects) with a one-line description each."""

    def __init__(self, kind: str, builtins: tuple[str, ...] = (), factory: str | None = None):
        """``builtins``: modules whose import registers the built-in entries (imported on first read).
        ``factory``: for registered classes, the class method that builds an entry from options
        (e.g. ``from_options``); the registry then hands out that method instead of the class."""
        self.kind = kind
        self.builtins = builtins
        self.factory = factory
        self._entries: dict[str, T] = {}
        self._descriptions: dict[str, str] = {}
        self._complete = not builtins

    def _load_builtins(self) -> None:
        if not self._complete:
            self._complete = True  # set first: a built-in module that reads the registry while importing sees it
            try:
                for module in self.builtins:
                    importlib.import_module(module)
            except BaseException:
                self._complete = False
                raise

    def register(self, name: str, description: str = "") -> Callable[[T], T]:
        """Decorator: ``@REGISTRY.register("afr", "attentive feature reuse")``."""

        def add(entry: T) -> T:
            self.add(name, entry, description)
            return entry

        return add

    def add(self, name: str, entry: T, description: str = "") -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._descriptions[name] = description or (getattr(entry, "__doc__", "") or "").strip().split("\n")[0]
        if isinstance(entry, type):
            entry.name = name  # type: ignore[attr-defined] - the one place a registered class's name is written
            if self.factory is not None:
                entry = getattr(entry, self.factory)
        self._entries[name] = entry

    def get(self, name: str) -> T:
        self._load_builtins()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        self._load_builtins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        self._load_builtins()
        return iter(self._entries)

    def __len__(self) -> int:
        self._load_builtins()
        return len(self._entries)

    def names(self) -> list[str]:
        self._load_builtins()
        return list(self._entries)

    def describe(self, name: str) -> str:
        self._load_builtins()
        self.get(name)
        return self._descriptions[name]

    def items(self) -> list[tuple[str, T]]:
        self._load_builtins()
        return list(self._entries.items())
