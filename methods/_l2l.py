"""Import learn2learn once, quietly.

``import learn2learn`` imports ``gym`` (and its vision/text packages) at import
time; gym 0.26 prints an "unmaintained" banner to stderr and numpy emits
deprecation warnings. None of that concerns a user of this harness, who only
meets learn2learn through the ``maml``/``fomaml``/``anil``/``metasgd`` baselines,
so the banner is swallowed here and every other module imports ``l2l`` from this
one. A missing or broken install still fails loudly, with the fix.
"""

from __future__ import annotations

import contextlib
import io
import warnings

_captured = io.StringIO()
try:
    with contextlib.redirect_stderr(_captured), contextlib.redirect_stdout(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import learn2learn as l2l
        from learn2learn.utils import clone_module, detach_module
except ImportError as err:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        f"learn2learn could not be imported ({err}). It has no wheels for Python 3.11 on PyPI; "
        "build it with: python tools/pip_install.py 'learn2learn==0.2.0'"
    ) from err

__all__ = ["l2l", "clone_module", "detach_module"]
