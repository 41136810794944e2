"""The staff page in a real browser (Debian's chromium through chromium-driver and Selenium) while
``main.py run`` plays a real clip: log-in refused and accepted, charts and thumbnail updating, a
control changing the runtime, and a control without its CSRF token refused.

Skipped where chromium, chromium-driver or selenium is missing (``.ci/run`` installs them).
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest
from helpers.staff_run import OPERATOR_PASSWORD, VIEWER_PASSWORD, health_scene, running_runtime, wait_for

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="chromium and chromium-driver are not installed")
CLIP = "video/tfjs_pose_squats.mp4"


@pytest.fixture(scope="module")
def kiosk(media, tmp_path_factory):
    with running_runtime(media / CLIP, tmp_path_factory.mktemp("staff")) as running:
        yield running


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1200"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def log_in(browser, base: str, name: str, password: str) -> None:
    browser.get(base + "/")
    wait_for(lambda: browser.current_url.endswith("/login"), 30, "the log-in page")
    browser.find_element(By.ID, "name").send_keys(name)
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.ID, "login-button").click()


def text_of(browser, element_id: str) -> str:
    """The element's text, "" while the page that has it is not (yet) the one shown."""
    found = browser.find_elements(By.ID, element_id)
    return found[0].text if found else ""


def attribute(browser, element_id: str, name: str) -> str:
    return browser.find_element(By.ID, element_id).get_attribute(name) or ""


def thumbnail_brightness(base: str, cookie: str) -> float:
    request = urllib.request.Request(base + "/api/thumbnail.jpg", headers={"Cookie": f"staff_session={cookie}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        image = cv2.imdecode(np.frombuffer(response.read(), np.uint8), cv2.IMREAD_GRAYSCALE)
    return float(image.mean())


def test_a_wrong_password_is_refused_and_the_page_stays_closed(kiosk, browser):
    base, _ = kiosk
    log_in(browser, base, "mallory", "not the password")
    wait_for(lambda: "wrong password" in text_of(browser, "login-error"), 30, "the refusal")
    assert browser.current_url.endswith("/login")
    browser.get(base + "/")
    assert browser.current_url.endswith("/login")  # no session was given


def test_the_page_shows_the_live_run_and_next_scene_changes_it(kiosk, browser):
    base, health = kiosk
    log_in(browser, base, "ada", OPERATOR_PASSWORD)
    wait_for(lambda: browser.current_url.rstrip("/") == base, 30, "the page after log-in")
    wait_for(lambda: text_of(browser, "state") in ("RUNNING", "ATTRACT"), 60, "the state badge")
    assert "ada · operator" in text_of(browser, "you")

    # charts and thumbnail update while the replay runs
    points = wait_for(lambda: int(attribute(browser, "fps-chart", "data-points")), 60, "a chart sample")
    wait_for(lambda: int(attribute(browser, "fps-chart", "data-points")) > points, 60, "the charts to grow")
    sequence = wait_for(lambda: int(attribute(browser, "thumbnail", "data-sequence")), 60, "a thumbnail")
    wait_for(lambda: int(attribute(browser, "thumbnail", "data-sequence")) > sequence, 60, "a newer thumbnail")
    assert browser.execute_script("return document.getElementById('thumbnail').naturalWidth") == 320

    # "next scene": the runtime's own stats (its health file) and the page both change scene
    before = text_of(browser, "scene")
    wait_for(lambda: health_scene(health) == before, 60, "the health file to show the scene")
    browser.find_element(By.CSS_SELECTOR, "button[data-action=scene_next]").click()
    after = wait_for(lambda: text_of(browser, "scene") != before and text_of(browser, "scene"), 60, "a new scene")
    wait_for(lambda: health_scene(health) == after, 60, "the runtime's stats to show the new scene")
    assert "sent" in text_of(browser, "toast")

    # ... and on the picture: blackout turns the thumbnail black, and back
    cookie = browser.get_cookie("staff_session")["value"]
    lit = thumbnail_brightness(base, cookie)
    blackout = browser.find_element(By.CSS_SELECTOR, "button[data-switch=blackout]")
    blackout.click()
    wait_for(lambda: thumbnail_brightness(base, cookie) < 2.0, 60, "a black thumbnail")
    wait_for(lambda: "on" in blackout.get_attribute("class").split(), 30, "the blackout button lit")
    blackout.click()  # the page sends the opposite of the switch it shows
    wait_for(lambda: thumbnail_brightness(base, cookie) > min(lit, 2.0) + 1.0, 60, "the picture back")
    logs = text_of(browser, "log")
    wait_for(lambda: "scene_next by ada (operator)" in text_of(browser, "log"), 30, "the audit line: " + logs[-300:])


def test_a_control_without_the_csrf_token_is_refused(kiosk, browser):
    base, health = kiosk
    log_in(browser, base, "ada", OPERATOR_PASSWORD)
    wait_for(lambda: browser.current_url.rstrip("/") == base, 30, "the page after log-in")
    cookie = browser.get_cookie("staff_session")["value"]
    scene = wait_for(lambda: health_scene(health), 60, "the health file")
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        request = urllib.request.Request(base + "/api/control", data=json.dumps({"action": "scene_next"}).encode(),
                                         method="POST", headers={"Cookie": f"staff_session={cookie}",
                                                                 "Content-Type": "application/json", **headers})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        body = refused.value.read().decode()
        assert refused.value.code == 403 and "CSRF" in body and "Traceback" not in body
    assert health_scene(health) == scene


def test_a_viewer_sees_the_page_but_not_the_controls(kiosk, browser):
    base, _ = kiosk
    log_in(browser, base, "guard", VIEWER_PASSWORD)
    wait_for(lambda: "guard · viewer" in text_of(browser, "you"), 60, "the viewer's page")
    button = browser.find_element(By.CSS_SELECTOR, "button[data-action=scene_next]")
    assert not button.is_enabled()
