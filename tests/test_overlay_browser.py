"""The OBS overlay in a real browser: ``rtmatte serve --live --source clip.mp4 --bg transparent``
started as a person starts it, ``/overlay`` opened in headless Chromium (Debian's, through
Playwright; OBS's Browser Source is Chromium too) by the link the command printed, and
screenshots taken with a transparent background, as OBS composites the page.

The clip is the sample portrait (``rtmatte.samples``) at 640x480 and 30 fps, 3 s long and
looped (the frame-rate window alone outlasts it): the astronaut's suit fills the lower left and
the wall the upper right of every frame, so the person's and the background's pixels are known
without a reference matte.

Frame rate: the page must draw ≥ 25 fps, counted by the page itself (its own draw times) over
150 draws (5 s) after the first 30, and it must draw at least 90 % of the pictures the run
delivered meanwhile (it skips one for a newer one only when two arrive in one read, by design).
What falls short first on a starved CPU is the live run, not the overlay, so the run here
lightens the model: ``--downsample-ratio 0.25 --matte-every 6`` (a 160x120 model input every
6th frame, the matte carried between: still a clean cut of this portrait). Figures on this
2-core machine shared with six other jobs (load average 12-25, 6-12 times more runnable threads
than cores), the test under ``nice -n 15``: at the run's defaults the run delivered 26-29 fps;
at ``--matte-every 3`` the page drew 27.0, 27.1 and once 22.5 fps (the run delivered 24.5);
at ``--matte-every 6`` it drew 26.0-29.6 fps in the seven runs whose figures were kept,
drawing 150 of 152-153 (90 of 90-92 with a 90-draw window), passed six more, and failed twice:
at load 19 (figure not kept) and at load 17 with 19.8 fps, 150 of 173 delivered, the browser as
starved as the run. So this holds with the machine to itself (CI runs one test at a time:
the run keeps the clip's 30 fps, 29.7 fps at load 0.7 at its defaults) and with a few times more
work than cores, not at ten times with the test niced below the rest; so the window slides
(up to WINDOWS times) and one window meeting the goal passes, riding out a burst of load.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys

import httpx
import numpy as np
import pytest
from conftest import HANG_S
from PIL import Image
from playwright.sync_api import Page

from rtmatte.samples import make_clip
from rtmatte.server.launch import serving

SIZE = (640, 480)
FPS = 30
START_TIMEOUT_S = 180.0
WARM_DRAWS = 30
WINDOW_DRAWS = 150
WINDOWS = 6

# in fractions of the picture: the suit (always the person) and the wall (always background)
PERSON = (0.2, 0.35, 0.65, 0.85)
BACKGROUND = (0.8, 0.98, 0.02, 0.3)

DRAWN = "() => window.rtmatteOverlay ? rtmatteOverlay.drawn : 0"
SEQUENCE = ("() => window.rtmatteOverlay && rtmatteOverlay.draws.length ? "
            "rtmatteOverlay.draws[rtmatteOverlay.draws.length - 1][1] : 0")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("overlay")
    clip = make_clip(folder / "clip.mp4", frames=3 * FPS, size=SIZE, fps=FPS, audio=False)
    with serving(folder / "server.log", "--live", "--source", str(clip), "--bg", "transparent",
                 "--downsample-ratio", "0.25", "--matte-every", "6",
                 timeout_s=START_TIMEOUT_S) as server:
        yield server


def overlay_link(served) -> str:
    """The overlay's address as the command printed it, token included."""
    found = re.search(r"OBS Browser Source[^:]*: (http://\S+/overlay\?token=\S+)", served.said())
    assert found, served.said()
    return found[1]


@pytest.fixture
def page(browser, served) -> Page:
    context = browser.new_context(viewport={"width": SIZE[0], "height": SIZE[1]})
    try:
        opened = context.new_page()
        opened.goto(overlay_link(served))
        after(opened, 1)
        yield opened
    finally:
        context.close()


def after(page: Page, draws: int) -> None:
    """Wait until the page has drawn ``draws`` pictures (the model loads first: a hang bound)."""
    page.wait_for_function(f"() => ({DRAWN})() >= {draws}", timeout=HANG_S * 1000)


def screenshot(page: Page) -> np.ndarray:
    """The page as OBS composites it: RGBA, with nothing behind the page."""
    shot = Image.open(io.BytesIO(page.screenshot(omit_background=True)))
    return np.asarray(shot.convert("RGBA"))  # RGB: Chromium found every pixel opaque


def region(picture: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    height, width = picture.shape[:2]
    x0, x1, y0, y1 = box
    return picture[int(y0 * height):int(y1 * height), int(x0 * width):int(x1 * width)]


def test_the_printed_link_opens_the_overlay_then_the_cookie_keeps_it_open(browser, served):
    link = overlay_link(served)
    assert link.startswith(f"{served.address}overlay?token={served.token}")
    context = browser.new_context()
    try:
        opened = context.new_page()
        refused = opened.goto(f"{served.address}overlay")
        assert refused is not None and refused.status == 401
        assert opened.goto(link).status == 200
        after(opened, 1)
        again = opened.goto(f"{served.address}overlay")  # the cookie, no token in the address
        assert again is not None and again.status == 200
        after(opened, 1)
    finally:
        context.close()


def test_the_person_has_real_alpha_on_a_fully_transparent_page(page):
    first = screenshot(page)
    assert first.shape[:2] == (SIZE[1], SIZE[0])
    assert (region(first, BACKGROUND)[..., 3] == 0).all(), "the background must be transparent"
    assert (region(first, PERSON)[..., 3] == 255).all(), "the person must be opaque"
    shown = page.evaluate(SEQUENCE)
    page.wait_for_function(f"() => ({SEQUENCE})() > {shown}", timeout=HANG_S * 1000)
    second = screenshot(page)
    assert (region(second, BACKGROUND)[..., 3] == 0).all()
    assert (region(second, PERSON)[..., 3] == 255).all()
    changed = np.abs(first.astype(int) - second.astype(int)).max(axis=2) > 8
    assert changed.mean() > 0.01, "the next picture must differ (the clip zooms and pans)"


def test_the_page_draws_at_least_25_fps_at_640x480(page):
    """The page's own draw times over WINDOW_DRAWS draws, after WARM_DRAWS (see the module's
    docstring for the figures behind the thresholds). The window slides by half its length, at
    most WINDOWS times, until one meets the goal: a burst of load from elsewhere on the machine
    (a few seconds) does not fail the test, a page or a run that cannot keep up still does."""
    size = None
    seen = []
    for window in range(WINDOWS):
        after(page, WARM_DRAWS + WINDOW_DRAWS + window * WINDOW_DRAWS // 2)
        size = size or page.evaluate("() => [rtmatteOverlay.width, rtmatteOverlay.height]")
        draws = page.evaluate("() => rtmatteOverlay.draws.slice()")[-WINDOW_DRAWS:]
        (first_ms, first_seq), (last_ms, last_seq) = draws[0], draws[-1]
        fps = (len(draws) - 1) / ((last_ms - first_ms) / 1000)
        delivered = last_seq - first_seq + 1
        seen.append(f"{fps:.1f} fps, {len(draws)} of {delivered} delivered")
        if fps >= 25 and len(draws) >= 0.9 * delivered:
            break
    else:
        raise AssertionError(f"no window of {WINDOW_DRAWS} draws met 25 fps with 90 % of the "
                             f"delivered pictures drawn: {'; '.join(seen)}")
    assert size == list(SIZE)
    latencies = page.evaluate("() => rtmatteOverlay.latencies.slice()")[-WINDOW_DRAWS:]
    assert 0 < float(np.median(latencies)) < 1000  # capture to draw, measured by the page


def test_with_another_background_the_overlay_still_shows_the_person_cut_out(page, served):
    """The panel switches the run to a blur (for its preview and the virtual camera); the
    overlay still shows the person with alpha, the background still transparent."""
    api = httpx.Client(base_url=served.address, timeout=60,
                       headers={"Authorization": f"Bearer {served.token}"})
    with api:
        assert api.post("/api/live/background", data={"bg": "blur"}).status_code == 200
        frames = api.get("/api/live").json()["frames"]
        after(page, page.evaluate(DRAWN) + 5)
        assert api.get("/api/live").json()["frames"] > frames
    shot = screenshot(page)
    assert (region(shot, BACKGROUND)[..., 3] == 0).all()
    assert (region(shot, PERSON)[..., 3] == 255).all()


def test_with_the_effect_off_the_overlay_shows_the_whole_picture_opaque(page, served):
    """The panel's effect switch off passes the camera's own picture: the overlay shows it
    whole, every pixel opaque, and the cut-out again once it is back on."""
    with httpx.Client(base_url=served.address, timeout=60,
                      headers={"Authorization": f"Bearer {served.token}"}) as api:
        assert api.post("/api/live/effect", json={"on": False}).status_code == 200
        try:
            after(page, page.evaluate(DRAWN) + 5)
            assert (screenshot(page)[..., 3] == 255).all()
        finally:
            assert api.post("/api/live/effect", json={"on": True}).status_code == 200
        after(page, page.evaluate(DRAWN) + 5)
        assert (region(screenshot(page), BACKGROUND)[..., 3] == 0).all()


@pytest.mark.parametrize(("flags", "said"), [
    (["--size", "640x480"], "--size and --fps apply to the --live run only"),
    (["--live", "clip.mp4"], "--live clip.mp4: give camera, camera:N or /dev/videoN"),
])
def test_serve_live_flags_that_cannot_work_are_refused_in_one_line(flags, said):
    done = subprocess.run([sys.executable, "-m", "rtmatte.cli", "serve", "--port", "0", *flags],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and said in done.stderr, done.stderr
