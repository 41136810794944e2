"""Screenshots the staff page during a real replay, for the README and docs/kiosk.md.

    .venv/bin/python docs/render_staff_page.py [--seconds 90] [--out docs/images/staff_page.png]

Plays a real clip with ``main.py run`` (headless, paced like a live run, looping; the same helper
as tests/test_staff_browser.py), lets the charts fill for ``--seconds``, logs in as an operator in
headless chromium and saves the page. Needs Debian's chromium and chromium-driver.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from helpers.staff_run import OPERATOR_PASSWORD, running_runtime, wait_for  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

CLIP = ROOT.parent / "shared" / "media" / "video" / "tfjs_pose_1_dance.mp4"


log = logging.getLogger("render_staff_page")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=CLIP)
    parser.add_argument("--seconds", type=float, default=90.0, help="how long the charts fill before the shot")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "staff_page.png")
    args = parser.parse_args()
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1440,1200"):
        options.add_argument(argument)
    with tempfile.TemporaryDirectory() as folder, running_runtime(args.clip, Path(folder)) as (base, _):
        browser = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        try:
            browser.get(base + "/login")
            browser.find_element(By.ID, "name").send_keys("ada")
            browser.find_element(By.ID, "password").send_keys(OPERATOR_PASSWORD)
            browser.find_element(By.ID, "login-button").click()
            wait_for(lambda: browser.current_url.rstrip("/") == base, 30, "the page")
            time.sleep(args.seconds)  # a script, not a test: the charts need real minutes of data
            height = browser.execute_script("return document.documentElement.scrollHeight")
            browser.set_window_size(1440, height)
            wait_for(lambda: int(browser.find_element(By.ID, "thumbnail").get_attribute("data-sequence") or 0), 30,
                     "a thumbnail")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            browser.save_screenshot(str(args.out))
        finally:
            browser.quit()
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
