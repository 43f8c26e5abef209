"""Render a validation report in headless Chromium and save a screenshot (PNG), to look at it.

python examples/render_report.py REPORT_DIR/report.html shot.png [--width 1200 --height 1800]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path


def render(html: Path, png: Path, width: int = 1200, height: int = 1800) -> Path:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        raise RuntimeError("no Chromium found (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "--hide-scrollbars",
            f"--screenshot={png.resolve()}",
            html.resolve().as_uri(),
        ]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return png


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("html", type=Path)
    p.add_argument("png", type=Path)
    p.add_argument("--width", type=int, default=1200)
    p.add_argument("--height", type=int, default=1800)
    args = p.parse_args()
    print(f"wrote {render(args.html, args.png, args.width, args.height)}")


if __name__ == "__main__":
    main()
