"""Import learn2learn once, quietly, and say how to install it when it is missing.

``import learn2learn`` imports ``gym`` (and its vision/text packages) at import
time; gym 0.26 prints an "unmaintained" banner to stderr and numpy emits
deprecation warnings. None of that concerns a user of this harness, who only
meets learn2learn through the ``maml``/``fomaml``/``anil``/``metasgd`` baselines,
so the banner is swallowed here and every other module imports ``l2l`` from this
one.

learn2learn is an optional extra (it has no wheel on PyPI, and its sdist does
not compile on Python 3.11+; ``mtml-bench install-learn2learn`` builds it). A
missing install therefore does not break importing the method registry: the
baselines that need it call ``require_learn2learn`` when they are built, which
raises ``ImportError`` naming that command.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import Any

INSTALL_COMMAND = "mtml-bench install-learn2learn"  # bench/cli_learn2learn.py

l2l: Any = None
clone_module: Any = None
detach_module: Any = None
_import_error: str | None = None

try:
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import learn2learn as l2l
        from learn2learn.utils import clone_module, detach_module
except ImportError as err:
    _import_error = str(err)


def require_learn2learn(method: str) -> None:
    """Raise ImportError with the install command when learn2learn (or gym, which it imports) is missing."""
    if _import_error is not None:
        raise ImportError(f"method '{method}' needs learn2learn 0.2.0, which cannot be imported here "
                          f"({_import_error}). Install it into this environment with: {INSTALL_COMMAND}")


__all__ = ["l2l", "clone_module", "detach_module", "require_learn2learn"]
