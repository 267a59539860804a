"""The web app in a real headless Chromium: upload -> vocabulary -> run -> overlay -> download.

Needs the system's Chromium (``apt-get install chromium``) and the ``playwright`` package
(driver only: it launches the system browser, nothing is downloaded). Skipped, with the reason,
where either is missing.
"""
from __future__ import annotations

import os
import shutil

import pytest

pytestmark = pytest.mark.browser

SHAPES = os.path.abspath('demo/examples/shapes.png')
#: Where the screenshot goes (set OVP_SCREENSHOT to keep one, e.g. for the README).
SCREENSHOT_ENV = 'OVP_SCREENSHOT'


def chromium_path() -> str | None:
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope='module')
def browser():
    sync_api = pytest.importorskip('playwright.sync_api',
                                   reason='playwright is not installed (pip install playwright)')
    executable = chromium_path()
    if executable is None:
        pytest.skip('no Chromium on this machine: apt-get install chromium')
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=['--no-sandbox', '--disable-gpu'])
        yield launched
        launched.close()


def test_upload_vocabulary_overlay_download(browser, app_url, tmp_path):
    page = browser.new_page(viewport={'width': 1400, 'height': 1100}, accept_downloads=True)
    page.set_default_timeout(180_000)
    page.goto(app_url)
    page.locator('#upload input[type=file]').set_input_files(SHAPES)
    page.locator('#input-image img').wait_for()
    page.locator('#vocabulary textarea').fill('red square, green circle, blue triangle')
    page.locator('#run').click()
    status = page.locator('#status textarea')
    page.wait_for_function(
        "() => document.querySelector('#status textarea').value.includes('segmentation')")
    assert 'image encoded' in status.input_value()
    page.locator('#overlay img').wait_for()
    assert page.locator('#overlay img').evaluate('img => img.naturalWidth') >= 128
    links = page.locator('#downloads a')
    links.first.wait_for()
    zip_link = page.locator('#downloads a[download$="_annotations.zip"]')
    with page.expect_download() as download_info:
        zip_link.click()
    saved = tmp_path / 'annotations.zip'
    download_info.value.save_as(saved)
    assert saved.stat().st_size > 0
    screenshot = os.environ.get(SCREENSHOT_ENV) or str(tmp_path / 'app.png')
    page.screenshot(path=screenshot, full_page=True)
    assert os.path.getsize(screenshot) > 10_000
    page.close()
