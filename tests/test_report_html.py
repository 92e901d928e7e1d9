"""The HTML report opens in headless Chromium without console errors, every figure decoded.

In CI (``CI`` set) Chromium must be present: the test fails instead of skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reports.htmlcheck import console_errors, find_chromium
from reports.report import build_report
from reports.synthetic import SyntheticConfig, write_run

CHROMIUM = find_chromium()


def _require_chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; CI installs it (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium); CI runs this test")
    return CHROMIUM


def test_report_html_has_no_console_errors(tmp_path: Path):
    chromium = _require_chromium()
    run_dir = write_run(SyntheticConfig(methods=("afr", "maml"), domains=3, seeds=2, episodes=2,
                                        failed=[("maml", 1, "diverged <NaN> & stopped")]), tmp_path / "run")
    index = build_report(run_dir)
    html = index.read_text()
    assert "src=\"figures/" not in html and "http://" not in html and "https://" not in html  # self-contained
    assert "diverged &lt;NaN&gt; &amp; stopped" in html  # reasons are escaped, not injected
    errors, decoded = console_errors(index, chromium)
    assert errors == []
    n_figures = len(list((index.parent / "figures").glob("*.png")))
    assert n_figures >= 8 and decoded == n_figures


def test_the_checker_sees_console_errors(tmp_path: Path):
    """Guard against a checker that can never fail."""
    chromium = _require_chromium()
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>console.error('planted'); missingFunction();</script>"
                    "<img src='absent.png'></body></html>")
    errors, decoded = console_errors(page, chromium)
    assert any("planted" in e for e in errors)
    assert any("missingFunction" in e for e in errors)
    assert any("absent.png" in e for e in errors)
    assert decoded == 0
