"""Regenerate tests/golden/input.json from a real run against the integration lab.

    python -m tests.golden.make_input

The golden files are then refreshed with ``python -m tests.golden.make_input --goldens``. The
input is a real report (NSD + Unbound), with the lab's random ports and temp paths replaced by
fixed ones so it does not change between machines.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESOLVERS = ["control", "isp-nxdomain", "isp-partial", "isp-blockpage", "isp-overblock", "isp-drop"]


def make_input() -> None:
    from checker.cli import main
    from tests.integration.lab import Lab

    with tempfile.TemporaryDirectory() as tmp, Lab(Path(tmp) / "lab") as lab:
        resolvers = lab.write_resolver_file(Path(tmp) / "resolvers.yaml", RESOLVERS)
        out = Path(tmp) / "report.json"
        main(["check", str(lab.order_path), "--resolvers", str(resolvers), "--timeout", "0.5", "--retries", "1",
              "-q", "--report", f"json:{out}"])
        text = out.read_text()
        for name, port in lab.ports.items():
            fixed = 5300 + RESOLVERS.index(name) if name in RESOLVERS else 5399
            text = text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{fixed}")
        text = text.replace(str(lab.order_path), "orders/lab-order.yaml").replace(str(resolvers), "resolvers.yaml")
        text = re.sub(r'"vantage": "[^"]*"', '"vantage": "probe-1.example.net"', text)
    view = json.loads(text)
    (HERE / "input.json").write_text(json.dumps(view, indent=2, ensure_ascii=False) + "\n")


def make_goldens() -> None:
    from checker.cli import main

    for fmt, name in (("html", "report.html"), ("md", "report.md"), ("junit", "junit.xml"), ("csv", "report.csv"),
                      ("github", "github.md"), ("court", "court.html"), ("json", "report.json"),
                      ("prometheus", "report.prom")):
        main(["render", str(HERE / "input.json"), "--report", f"{fmt}:{HERE / name}"])


if __name__ == "__main__":
    if "--goldens" in sys.argv:
        make_goldens()
    else:
        make_input()
