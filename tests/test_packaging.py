"""``pip install .`` into a fresh venv gives a working command with bundled orders and templates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_pip_install_gives_a_working_command(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    # The test runner's own site-packages supply the dependencies and the build backend (no
    # network): a .pth file lists them after the venv's own. The package itself is built from this
    # checkout into the venv, not taken from the developer's editable install (a .pth line adds a
    # folder without running the .pth files in it, so the editable install's path hook stays out).
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    parent = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (Path(site) / "runner-site-packages.pth").write_text("".join(f"{path}\n" for path in parent))
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", str(ROOT)],
        check=True, cwd=tmp_path,
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [str(python), "-c", "import checker, checker.bundled as b, json; print(json.dumps("
         "[checker.__file__, str(b.templates_dir()), str(b.orders_dir())]))"],
        check=True, cwd=tmp_path, capture_output=True, text=True, env=env,
    )
    module, templates, orders = json.loads(where.stdout)
    assert module.startswith(str(venv)), module
    assert templates.startswith(str(venv)) and (Path(templates) / "summary.txt").is_file()
    assert orders.startswith(str(venv)) and list(Path(orders).glob("*.yaml"))
    schema = subprocess.run([str(python), "-c", "import checker.schemas as s; print(s.schema_path('order'))"],
                            check=True, cwd=tmp_path, capture_output=True, text=True, env=env).stdout.strip()
    assert schema.startswith(str(venv)) and Path(schema).is_file()

    command = venv / "bin" / "blockaudit"
    validate = subprocess.run([str(command), "validate"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert validate.returncode == 0, validate.stderr
    assert validate.stderr.startswith("ok: 1 orders, 9 ordered names")

    helped = subprocess.run([str(command), "check", "--help"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert helped.returncode == 0 and "exit status" in helped.stdout

    version = subprocess.run([str(python), "-m", "checker", "--version"], cwd=tmp_path, capture_output=True,
                             text=True, env=env)
    assert version.returncode == 0 and version.stdout.startswith("blockaudit ")
