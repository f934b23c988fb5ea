"""The screenshot of a verify report in the docs: ``docs/figures/report_verify.png``.

    python benchmarks/report_screenshot.py [--verify FILE] [--out PNG] [--height PIXELS]

Without ``--verify`` it first runs (in this process, from the working tree)

    contractlab verify --theorem minpay. --theorem linear. --theorem regret. --count 10 --seed 0 --out <tmp>/verify.json

then ``contractlab report <tmp>/verify.json --out <tmp>/report_verify.html``, opens the page in
headless Chromium (Debian's ``/usr/bin/chromium`` and ``/usr/bin/chromedriver``, through
selenium; nothing is downloaded) at 1280 pixels wide and saves the top ``--height`` pixels as
PNG (default ``docs/figures/report_verify.png``, relative to the repository). It prints the
seconds each step took.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VERIFY_ARGS = ["--theorem", "minpay.", "--theorem", "linear.", "--theorem", "regret.", "--count", "10",
               "--seed", "0", "--no-progress"]


def screenshot(page: Path, png: Path, width: int, height: int) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(page.as_uri())
        full = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(height, full) + (driver.get_window_size()["height"]
                                                            - driver.execute_script("return window.innerHeight")))
        png.write_bytes(driver.get_screenshot_as_png())
    finally:
        driver.quit()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--verify", type=Path, help="an existing verify --out file (default: run verify first)")
    p.add_argument("--out", type=Path, default=Path("docs/figures/report_verify.png"))
    p.add_argument("--height", type=int, default=1600, help="pixels of the page kept, from the top (default 1600)")
    args = p.parse_args()
    from contractlab.cli import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = []
        verify = args.verify
        if verify is None:
            verify = tmp / "verify.json"
            t = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                cli(["verify", *VERIFY_ARGS, "--out", str(verify)])  # exit 1 (a theorem failed) is still a report
            rows.append(("verify", time.perf_counter() - t))
        page = tmp / "report_verify.html"
        t = time.perf_counter()
        if args.verify is None:  # the page shows the input's path: make it the short relative one
            with contextlib.chdir(tmp):
                code = cli(["report", verify.name, "--out", page.name, "--title", "contractlab verify report"])
        else:
            code = cli(["report", str(verify), "--out", str(page), "--title", "contractlab verify report"])
        if code != 0:
            return 2
        rows.append(("report", time.perf_counter() - t))
        t = time.perf_counter()
        out = args.out if args.out.is_absolute() else ROOT / args.out
        screenshot(page, out, 1280, args.height)
        rows.append(("screenshot", time.perf_counter() - t))
    print(f"{'step':<12}{'seconds':>9}")
    for step, seconds in rows:
        print(f"{step:<12}{seconds:>9.2f}")
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
