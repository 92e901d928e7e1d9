"""One small name -> factory registry, shared by methods, suites and metrics.

It lives in ``domains`` because that is the top of the one-way flow
(domains -> methods -> bench -> reports): every other stage may import it.
An unknown name is a user error that lists the known names and suggests the
closest one, because a typo in a spec should cost seconds, not a traceback.
"""

from __future__ import annotations

import difflib
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

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._descriptions: dict[str, str] = {}

    def register(self, name: str, description: str = "") -> Callable[[T], T]:
        """Decorator: ``@REGISTRY.register("afr", "attentive feature reuse")``."""

        def add(entry: T) -> T:
            self.add(name, entry, description)
            return entry

        return add

    def add(self, name: str, entry: T, description: str = "") -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = entry
        self._descriptions[name] = description or (getattr(entry, "__doc__", "") or "").strip().split("\n")[0]

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)

    def describe(self, name: str) -> str:
        self.get(name)
        return self._descriptions[name]

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())
