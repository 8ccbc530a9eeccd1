"""Regenerate docs/report-screenshot.png: the HTML report of tests/golden/input.json in headless Chromium.

    python docs/make_screenshot.py [--output PATH] [--width 1280]

Needs Debian's chromium and chromium-driver and the Python package selenium; Pillow, when
installed, shrinks the PNG to a palette image. Nothing is downloaded: the driver is the system
one (so Selenium Manager never runs) and the page itself loads nothing.
"""

from __future__ import annotations

import argparse
import base64
import io
import shutil
import sys
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

try:
    from PIL import Image

    HAVE_PILLOW = True
except ImportError:  # optional: only makes the file smaller
    HAVE_PILLOW = False

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from checker.cli import main  # noqa: E402

GOLDEN = ROOT / "tests" / "golden" / "input.json"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
LIMIT = 400 * 1024
"""Largest PNG the docs should carry."""


def start_chrome(width: int, profile: Path) -> webdriver.Chrome:
    """Headless Chromium with a throwaway profile and nothing running in the background."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-extensions", "--hide-scrollbars", "--force-device-scale-factor=1",
                     f"--window-size={width},1000", f"--user-data-dir={profile}"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


def capture(report: Path, width: int) -> bytes:
    """A PNG of the page from its top to the end of the results table."""
    profile = Path(tempfile.mkdtemp(prefix="blockaudit-shot-"))
    driver = start_chrome(width, profile)
    try:
        driver.get(report.as_uri())
        bottom = driver.execute_script(
            "const t = document.getElementById('matrix');"
            "return Math.ceil(t.getBoundingClientRect().bottom + window.scrollY + 24);")
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": int(bottom), "scale": 1},
        })
        return base64.b64decode(shot["data"])
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def shrink(png: bytes) -> bytes:
    """The same picture as a 64-colour palette PNG when Pillow is there (flat colours, so no visible loss)."""
    if not HAVE_PILLOW:
        return png
    image = Image.open(io.BytesIO(png)).convert("RGB")
    out = io.BytesIO()
    image.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        out, format="PNG", optimize=True)
    return min(png, out.getvalue(), key=len)


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "report-screenshot.png")
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args(argv)
    for tool in (CHROMIUM, CHROMEDRIVER):
        if not tool.exists():
            sys.stderr.write(f"{tool} is missing: apt-get install chromium chromium-driver\n")
            return 2
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.html"
        status = main(["render", str(GOLDEN), "--report", f"html:{report}"])
        if status != 0:
            return status
        png = shrink(capture(report, args.width))
    args.output.write_bytes(png)
    size = len(png)
    sys.stderr.write(f"wrote {args.output} ({size // 1024} KiB)\n")
    if size > LIMIT:
        sys.stderr.write(f"warning: larger than {LIMIT // 1024} KiB; try a smaller --width\n")
    return 0


if __name__ == "__main__":
    sys.exit(run())
