"""The HTML report in a real headless Chromium: no console errors, one verdict row per paper,
every figure decodes. CI (CI=true) must run this test: there a missing browser fails it."""

import os
from pathlib import Path

import pytest

from icml22dl.cli import main
from icml22dl.report.browser import check_report, find_chromium


def require_browser() -> None:
    missing = []
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install 'icml22dl[browser]')")
    if find_chromium() is None:
        missing.append("chromium (apt-get install chromium)")
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser test cannot run in CI: missing {', '.join(missing)}")
        pytest.skip(f"missing {', '.join(missing)}")


@pytest.mark.slow
def test_report_renders_in_chromium(tmp_path):
    require_browser()
    # A real results root: two configs of the momentum claim (one verdict row: both in its quick cell).
    root = Path(os.environ.get("ICML22DL_CI_ARTIFACTS", tmp_path))
    common = ["--seeds", "0-1", "--root", str(root), "--quiet", "--set", "test_size=500"]
    main(["run", "momentum", *common])
    main(["run", "momentum", *common, "--set", "momentum=0.0"])
    html = root / "report.html"
    assert main(["report", str(root)]) == 0
    check = check_report(html, root / "report.png")
    assert check.console_errors == ()
    assert check.verdict_rows == 1
    assert check.images >= 2 and check.broken_images == 0
    assert check.screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
