"""Test-wide settings: threads, the data root, a private cache, ``requires_data`` and a data-root guard.

Set before torch is imported, so each pytest-xdist worker (``python -m pytest -n 2``) runs
one intra-op thread and the workers share the cores instead of oversubscribing them.

The data sets are read from ``$ICML22DL_DATA`` when it is set; otherwise from the ``data``
folder of the development checkout, which sits beside the repository (see the README,
"Set-up"). The suite runs without them too:

- ``@pytest.mark.requires_data("mnist", ...)`` skips a test when a file of the named data
  sets (see ``tests/data_pack.py``) is missing under the data root; the reason names the
  missing files and the data root.
- Derived files (decoded arrays, cached models) go to a per-session temporary
  ``$ICML22DL_CACHE``, never to the data root or the user's cache.
- The data root is snapshotted (size and mtime of every file) when the session starts and
  compared when it ends: a test that added, removed or changed a file there fails the run.
  Under pytest-xdist the check runs once, in the controller.
"""

import os
from pathlib import Path

for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import pytest  # noqa: E402
import torch  # noqa: E402  (after the thread settings)

from icml22dl.data.root import CACHE_ENV_VAR, data_root  # noqa: E402
from tests.data_pack import compare, missing_files, snapshot  # noqa: E402

torch.set_num_threads(1)
os.environ.setdefault("ICML22DL_DATA", str(Path(__file__).resolve().parents[2].joinpath("shared", "data")))

_DATA_ROOT_SNAPSHOT = pytest.StashKey[tuple[Path, dict]]()


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Point ``$ICML22DL_CACHE`` at a temporary folder for the whole session (per xdist worker)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV_VAR, str(tmp_path_factory.mktemp("icml22dl-cache")))
        yield


def pytest_collection_modifyitems(config, items):
    """Skip each test marked ``requires_data(*names)`` whose data files are absent under the data root."""
    root = data_root()
    for item in items:
        names = [name for marker in item.iter_markers("requires_data") for name in marker.args]
        missing = missing_files(names, root) if names else []
        if missing:
            reason = f"data files missing under the data root {root}: {', '.join(missing)}"
            item.add_marker(pytest.mark.skip(reason=reason))


def _is_controller(config) -> bool:
    """True in a plain run and in the pytest-xdist controller, False in an xdist worker."""
    return not hasattr(config, "workerinput")


def pytest_sessionstart(session):
    """Record every file under the data root (size and mtime)."""
    if _is_controller(session.config):
        root = data_root()
        session.config.stash[_DATA_ROOT_SNAPSHOT] = (root, snapshot(root))


def pytest_sessionfinish(session, exitstatus):
    """Fail the run, listing the differences, if a file under the data root was added, removed or changed."""
    if not _is_controller(session.config) or _DATA_ROOT_SNAPSHOT not in session.config.stash:
        return
    root, before = session.config.stash[_DATA_ROOT_SNAPSHOT]
    differences = compare(before, snapshot(root))
    if differences:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = [f"the tests wrote into the data root {root}:", *(f"  {line}" for line in differences)]
        if reporter is not None:
            reporter.write_sep("=", "data root changed", red=True, bold=True)
            for line in lines:
                reporter.write_line(line, red=True)
        else:
            print("\n".join(lines))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
