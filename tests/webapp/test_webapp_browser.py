"""The web app in a real headless Chromium: upload -> vocabulary -> run -> overlay -> download.

Needs the system's Chromium (``apt-get install chromium``) and the ``playwright`` package
(driver only: it launches the system browser, nothing is downloaded). Skipped, with the reason,
where either is missing.
"""
from __future__ import annotations

import io
import os
import shutil

import numpy as np
import pytest
from PIL import Image

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


#: Screen rectangle [x, y, w, h] of an <img>'s drawn picture (object-fit contain or
#: scale-down, centred).
CONTENT_RECT = """img => {
  const box = img.getBoundingClientRect();
  let scale = Math.min(box.width / img.naturalWidth, box.height / img.naturalHeight);
  if (getComputedStyle(img).objectFit === 'scale-down') scale = Math.min(scale, 1);
  const w = img.naturalWidth * scale, h = img.naturalHeight * scale;
  return [box.left + (box.width - w) / 2, box.top + (box.height - h) / 2, w, h];
}"""


def screenshot_pixels(page, clip: dict) -> np.ndarray:
    """(h, w, 3) RGB pixels of a region of the page as shown."""
    return np.asarray(Image.open(io.BytesIO(page.screenshot(clip=clip))).convert('RGB'))


def is_green(rgb: np.ndarray) -> bool:
    return bool(rgb[1] > 150 and rgb[0] < 80 and rgb[2] < 80)


def until(read, done, seconds: float = 15.0):
    """``read()`` again until ``done(value)`` or ``seconds`` passed (the page repaints after
    a new image arrives); the last value."""
    import time
    deadline = time.monotonic() + seconds
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.3)
        value = read()
    return value


def run_shapes(page, app_url: str) -> None:
    page.set_default_timeout(180_000)
    page.goto(app_url)
    page.locator('#upload input[type=file]').set_input_files(SHAPES)
    page.locator('#vocabulary textarea').fill('red square, green circle, blue triangle')
    run_box = page.locator('#run').bounding_box()
    assert run_box['y'] + run_box['height'] <= 900, run_box  # Run visible at 1440x900
    page.locator('#run').click()
    page.wait_for_function(
        "() => document.querySelector('#status textarea').value.includes('segmentation')")


def test_upload_vocabulary_overlay_download(browser, app_url, tmp_path):
    page = browser.new_page(viewport={'width': 1440, 'height': 900}, accept_downloads=True)
    run_shapes(page, app_url)
    status = page.locator('#status textarea')
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
    page.evaluate('window.scrollTo(0, 0)')
    page.screenshot(path=screenshot)
    assert os.path.getsize(screenshot) > 10_000
    page.close()


def test_overlay_text_is_not_covered(browser, app_url):
    """The overlay's top band (legend, "nothing found", scores) shows as the PNG has it:
    no label or toolbar of the page lies over it."""
    page = browser.new_page(viewport={'width': 1440, 'height': 900})
    run_shapes(page, app_url)
    img = page.locator('#overlay img')
    img.wait_for()
    page.wait_for_function("() => document.querySelector('#overlay img').naturalWidth > 0")
    x, y, w, h = img.evaluate(CONTENT_RECT)
    band = dict(x=x + 1, y=y + 1, width=w - 2, height=min(40.0, h / 4))
    for fx in (0.02, 0.5, 0.98):
        for fy in (0.1, 0.9):
            tag = page.evaluate('([px, py]) => document.elementFromPoint(px, py).closest('
                                '"#overlay img") !== null',
                                [band['x'] + fx * band['width'], band['y'] + fy * band['height']])
            assert tag, (fx, fy)
    shown = screenshot_pixels(page, band).astype(np.float32)
    source = page.request.get(img.get_attribute('src')).body()
    png = np.asarray(Image.open(io.BytesIO(source)).convert('RGB'))
    top = png[:max(1, round(png.shape[0] * band['height'] / h))]
    expected = np.asarray(Image.fromarray(top).resize((shown.shape[1], shown.shape[0]),
                                                      Image.BILINEAR)).astype(np.float32)
    assert np.abs(shown - expected).mean() < 20.0
    page.close()


def test_interactive_view_answers_hover_and_click_in_the_overlay_colours(browser, app_url):
    from ovperception.visualization import get_palette
    page = browser.new_page(viewport={'width': 1440, 'height': 900})
    run_shapes(page, app_url)
    page.get_by_role('tab', name='interactive').click()
    img = page.locator('#regions img').first
    img.wait_for()
    page.wait_for_function("() => document.querySelector('#regions img').naturalWidth > 0")
    x, y, w, h = img.evaluate(CONTENT_RECT)
    clicked = page.locator('#clicked textarea')
    page.mouse.move(x + 0.25 * w, y + 0.5 * h)
    page.mouse.move(x + 0.26 * w, y + 0.52 * h)
    page.wait_for_function("() => document.querySelector('#clicked textarea').value"
                           ".startsWith('(')")
    hovered = clicked.input_value()
    page.mouse.click(x + 0.75 * w, y + 0.25 * h)
    page.wait_for_function("old => document.querySelector('#clicked textarea').value !== old",
                           arg=hovered)
    text = clicked.input_value()
    x_px, y_px = (int(v) for v in text[1:text.index(')')].split(','))
    assert abs(x_px - 96) <= 1 and abs(y_px - 24) <= 1, text  # 0.75 x 128, 0.25 x 96
    names = ['red square', 'green circle', 'blue triangle']
    assert any(name in text for name in names) or 'unlabelled' in text
    palette = get_palette(3)
    legend = page.locator('#regions .legend-item')
    assert legend.count() >= 1
    for index in range(legend.count()):
        item = legend.nth(index)
        label = item.inner_text()
        color = item.evaluate('e => getComputedStyle(e).backgroundColor')
        rgb = [int(v) for v in color[color.index('(') + 1:].split(',')[:3]]
        name = next(n for n in names if label.startswith(n))
        assert rgb == [int(v) for v in palette[names.index(name)]], (label, color)
    page.close()


def test_sam_clicks_show_markers_and_undo_removes_them(browser, app_url):
    page = browser.new_page(viewport={'width': 1440, 'height': 900})
    run_shapes(page, app_url)
    page.get_by_role('tab', name='input & SAM').click()
    page.locator('#sam-mode').get_by_text('foreground point').click()
    img = page.locator('#input-image img')
    img.wait_for()
    before = img.get_attribute('src')
    x, y, w, h = img.evaluate(CONTENT_RECT)
    px, py = x + 0.3 * w, y + 0.6 * h
    page.mouse.click(px, py)
    page.wait_for_function("old => document.querySelector('#input-image img').src !== old",
                           arg=before)
    page.wait_for_function("() => document.querySelector('#input-image img').complete")
    spot = dict(x=px - 2, y=py - 2, width=4, height=4)
    marker = until(lambda: screenshot_pixels(page, spot).mean((0, 1)), is_green)
    assert is_green(marker), marker  # a green disc
    assert 'point' in page.locator('#clicked textarea').input_value()
    marked = img.get_attribute('src')
    page.locator('#undo').click()
    page.wait_for_function("old => document.querySelector('#input-image img').src !== old",
                           arg=marked)
    page.wait_for_function("() => document.querySelector('#input-image img').complete")
    plain = until(lambda: screenshot_pixels(page, spot).mean((0, 1)),
                  lambda value: not is_green(value))
    assert not is_green(plain), plain
    page.close()


def is_yellow(rgb: np.ndarray) -> bool:
    return bool(rgb[0] > 200 and rgb[1] > 160 and rgb[2] < 90)


def test_sam_box_by_drag_shows_a_live_rectangle_then_the_box(browser, app_url):
    page = browser.new_page(viewport={'width': 1440, 'height': 900})
    run_shapes(page, app_url)
    page.get_by_role('tab', name='input & SAM').click()
    img = page.locator('#input-image img')
    img.wait_for()
    page.wait_for_function("() => document.querySelector('#input-image img').complete")
    before = img.get_attribute('src')
    x, y, w, h = img.evaluate(CONTENT_RECT)
    start, end = (x + 0.2 * w, y + 0.2 * h), (x + 0.7 * w, y + 0.8 * h)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(x + 0.5 * w, y + 0.5 * h, steps=4)
    page.mouse.move(*end, steps=4)
    live = page.locator('#box-outline').bounding_box()  # drawn while the button is held
    assert live is not None
    assert abs(live['x'] - start[0]) < 5 and abs(live['y'] - start[1]) < 5, live
    assert abs(live['x'] + live['width'] - end[0]) < 5, live
    assert abs(live['y'] + live['height'] - end[1]) < 5, live
    page.mouse.up()
    page.wait_for_function("old => document.querySelector('#input-image img').src !== old",
                           arg=before)
    page.wait_for_function("() => document.querySelector('#input-image img').complete")
    message = until(lambda: page.locator('#clicked textarea').input_value(),
                    lambda text: text.startswith('box'))
    assert message.startswith('box (') and 'point' not in message, message  # not a click
    edge = dict(x=start[0] - 8, y=(start[1] + end[1]) / 2, width=16, height=2)
    pixels = until(lambda: screenshot_pixels(page, edge).reshape(-1, 3),
                   lambda values: any(is_yellow(v) for v in values))
    assert any(is_yellow(v) for v in pixels), pixels  # the server drew the box
    page.close()


def test_downloads_have_no_remove_button(browser, app_url):
    page = browser.new_page(viewport={'width': 1440, 'height': 900})
    run_shapes(page, app_url)
    page.locator('#downloads a').first.wait_for()
    assert page.locator('#downloads .label-clear-button:visible').count() == 0
    page.close()


def test_closing_the_page_removes_its_session_folder(browser, served_app):
    import time
    url, app = served_app
    before = {session.folder for session, _ in app.session_store._sessions.values()}
    page = browser.new_page(viewport={'width': 1440, 'height': 900})
    run_shapes(page, url)
    folders = {session.folder for session, _ in app.session_store._sessions.values()} - before
    assert len(folders) == 1 and os.path.isdir(next(iter(folders)))
    page.close()
    deadline = time.monotonic() + 60
    while os.path.isdir(next(iter(folders))) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not os.path.isdir(next(iter(folders)))


def test_detection_threshold_and_top_k_refilter_without_a_run(browser, app_url):
    page = browser.new_page(viewport={'width': 1440, 'height': 900})
    page.set_default_timeout(180_000)
    page.goto(app_url)
    assert not page.locator('#score-threshold').is_visible()
    page.locator('#task').get_by_text('detection', exact=True).click()
    page.locator('#score-threshold').wait_for(state='visible')
    assert page.locator('#top-k').is_visible()
    page.locator('#upload input[type=file]').set_input_files(SHAPES)
    page.locator('#vocabulary textarea').fill('red square, green circle')
    page.locator('#run').click()
    status = page.locator('#status textarea')
    assert 'detection(s) shown' in until(status.input_value, lambda v: 'shown' in v, 180)
    top_k = page.locator('#top-k input')
    top_k.fill('1')
    top_k.press('Enter')
    assert 'top 1' in until(status.input_value, lambda v: 'top 1' in v)
    assert 'model not run again' in status.input_value()
    slider = page.locator('#score-threshold input[type=range]')
    for _ in range(3):  # on a loaded machine the release can reach gradio before the value
        slider.fill('1')
        slider.dispatch_event('pointerup')
        if '>= 1.00' in until(status.input_value, lambda v: '>= 1.00' in v):
            break
    assert 'score >= 1.00' in status.input_value()
    page.close()
