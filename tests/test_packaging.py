"""What Airflow installs: the project's wheel holds the provider package and nothing of
the sandboxes, which are a distribution of their own (``sandbox/``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Iterator[zipfile.ZipFile]:
    """The wheel ``pip wheel`` builds from the project's sources.

    The sources (the files pyproject.toml builds from) are copied first, so that the build
    writes nothing into the work tree and no ``build/`` left there by an earlier build can
    slip stale files into the wheel."""
    tmp = tmp_path_factory.mktemp("packaging")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "include", source / "include",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--disable-pip-version-check",
         "-w", str(tmp / "dist"), str(source)],
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    [built] = (tmp / "dist").glob("cartum_roapp_sync-*.whl")
    with zipfile.ZipFile(built) as archive:
        yield archive


@pytest.fixture(scope="module")
def wheel_files(wheel) -> list[str]:
    return wheel.namelist()


def test_wheel_holds_the_provider_package(wheel_files):
    for module in ("__init__.py", "dags.py", "provider.py", "assumptions.py", "transport.py", "config.py",
                   "cartum/client.py", "cartum/hook.py", "roapp/client.py", "roapp/hook.py",
                   "pipeline/steps.py", "pipeline/graph.py", "pipeline/load/orders.py",
                   "state/store.py", "transform/orders.py", "setup/cli.py"):
        assert f"cartum_roapp_sync/{module}" in wheel_files, module
    top_level = {name.split("/")[0] for name in wheel_files}
    assert {name for name in top_level if not name.endswith(".dist-info")} == {"cartum_roapp_sync"}, top_level


def test_wheel_keeps_the_entry_points(wheel, wheel_files):
    [name] = [name for name in wheel_files if name.endswith(".dist-info/entry_points.txt")]
    entry_points = wheel.read(name).decode()
    assert "provider_info = cartum_roapp_sync.provider:get_provider_info" in entry_points
    assert "cartum_roapp_sync = cartum_roapp_sync.airflow_plugin:CartumRoAppPlugin" in entry_points
    assert "cartum_roapp_history = cartum_roapp_sync.history.plugin:CartumRoAppHistoryPlugin" in entry_points
    assert "cartum-roapp = cartum_roapp_sync.setup.cli:main" in entry_points


def test_wheel_holds_no_sandbox(wheel_files):
    assert [name for name in wheel_files if "sandbox" in name.lower()] == []
    # Nor any of the fake servers' modules under another name.
    assert [name for name in wheel_files if name.rsplit("/", 1)[-1] in ("server.py", "seed.py", "admin.py")] == []
