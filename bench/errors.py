"""User errors: one line on stderr and an exit code, never a traceback.

Anything the user can fix (a wrong spec field, an unknown method, an output
folder that cannot be written) is raised as ``UserError`` anywhere in ``bench``;
the CLI catches it at the top, prints ``error: <message>`` and exits with its
code. Keeping the type in one small module lets every part of the harness raise
it without importing the CLI.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem in the user's input; ``str()`` is the whole one-line message (what is wrong, how to fix)."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.message = " ".join(message.split())  # guarantee a single line
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class SpecError(UserError):
    """An invalid field in a benchmark spec."""
