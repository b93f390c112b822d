"""Re-make docs/overview.png: the Overview of a demo store, in the headless Chromium the tests use.

    spendwatch demo && spendwatch --config spendwatch-demo/spendwatch.toml detect
    .venv/bin/python docs/screenshot.py spendwatch-demo/spendwatch.toml docs/overview.png
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spendwatch.app import load_config  # noqa: E402
from spendwatch.web.serve import ListenPolicy, WebServer  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main(config_path: str, out: str) -> None:
    from playwright.sync_api import sync_playwright

    cfg = load_config(config_path)
    server = WebServer(ListenPolicy.decide("127.0.0.1:0", cfg), lambda: cfg)
    server.start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 900}, device_scale_factor=1)
            page.goto(f"http://127.0.0.1:{server.port}/")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=out, full_page=True)
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
