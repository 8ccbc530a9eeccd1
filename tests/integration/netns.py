"""Run a test scenario inside a network namespace the test creates itself.

Answers in 127.0.0.0/8 are sinkholes to the classifier, so a test whose resolvers must answer
"real" addresses (and whose web servers must listen on them) runs in a fresh network namespace:
its own loopback interface carrying documentation addresses (RFC 5737), no route anywhere else,
torn down with the process. ``unshare --net`` (plus ``--map-root-user`` when not root) makes it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def unshare_argv() -> list[str] | None:
    """The command prefix that enters a new network namespace, or None when this host cannot."""
    unshare = shutil.which("unshare")
    if unshare is None or (shutil.which("ip") is None and not Path("/usr/sbin/ip").exists()):
        return None
    argv = [unshare, "--net"] if os.geteuid() == 0 else [unshare, "--net", "--map-root-user"]
    try:
        done = subprocess.run([*argv, "true"], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return argv if done.returncode == 0 else None


def ip_tool() -> str:
    return shutil.which("ip") or "/usr/sbin/ip"


def bring_up(addresses: Sequence[str]) -> None:
    """Inside the namespace: loopback up, carrying ``addresses`` too."""
    ip = ip_tool()
    subprocess.run([ip, "link", "set", "lo", "up"], check=True)
    for address in addresses:
        prefix = "128" if ":" in address else "32"
        subprocess.run([ip, "addr", "add", f"{address}/{prefix}", "dev", "lo"], check=True)


def run_module(module: str, args: Sequence[str], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m module args`` in a new network namespace, from the repository root."""
    prefix = unshare_argv()
    if prefix is None:
        raise RuntimeError("cannot create a network namespace here (unshare --net failed)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([*prefix, sys.executable, "-m", module, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env, check=False)
