"""The control panel and the API docs in a real browser: headless Chromium (Debian's) driven by
Playwright, against ``rtmatte serve`` on a free loopback port with a video file as its
camera, opened as a person does: by the links the command prints, with the token it made.

Chromium must start: a machine without it fails this test rather than skipping it (CI installs
Debian's ``chromium``; Playwright's own browser download is not used).
"""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from rtmatte.samples import make_clip
from rtmatte.server.launch import serving

START_TIMEOUT_S = 90.0
MAGENTA = (255, 0, 255)

# the mean colour of the preview's top-right corner (the wall behind the astronaut), read from
# the <img> showing the MJPEG stream by drawing it into a canvas
CORNER_JS = """() => {
  const img = document.getElementById("preview");
  if (!img.naturalWidth) return null;
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(img, 0, 0);
  const size = Math.round(img.naturalWidth / 20);
  const data = context.getImageData(img.naturalWidth - size, 0, size, size).data;
  const sum = [0, 0, 0];
  for (let i = 0; i < data.length; i += 4) for (let c = 0; c < 3; c++) sum[c] += data[i + c];
  return sum.map((v) => v / (data.length / 4));
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """The real command on port 0 with a token of its own making; yields what it printed once
    it answers."""
    folder = tmp_path_factory.mktemp("panel")
    clip = make_clip(folder / "camera.mp4", frames=60, size=(320, 240), fps=4, audio=False)
    with serving(folder / "server.log", "--source", str(clip),
                 "--vcam-device", "/dev/rtmatte-test-no-such-device",
                 timeout_s=START_TIMEOUT_S) as served:
        yield served


def corner(page: Page) -> list[float] | None:
    return page.evaluate(CORNER_JS)


def wait_for_corner(page: Page, test, timeout: float = 30.0) -> list[float]:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = corner(page)
        if seen is not None and test(seen):
            return seen
        page.wait_for_timeout(100)
    raise AssertionError(f"the preview's corner never changed as expected (last: {seen})")


def near(colour: list[float], target: tuple[float, ...] | list[float],
         tolerance: float = 30) -> bool:
    return max(abs(a - b) for a, b in zip(colour, target, strict=True)) < tolerance


def test_without_the_token_a_page_says_how_to_get_in(browser, server):
    context = browser.new_context()
    try:
        page = context.new_page()
        for address in (server.address, f"{server.address}docs"):
            answer = page.goto(address)
            assert answer is not None and answer.status == 401, address
            expect(page.locator("h1")).to_contain_text("rtmatte serve")
            assert "printed" in page.locator("body").inner_text()
    finally:
        context.close()


def test_the_printed_docs_link_renders_every_route(browser, server):
    """The /docs link the command printed, opened in a fresh browser, lists every operation of
    the schema, fetches nothing from elsewhere, and can call the API (the cookie it left)."""
    schema = httpx.get(f"{server.address}openapi.json", timeout=10,
                       headers={"Authorization": f"Bearer {server.token}"}).json()
    expected = sorted((method.upper(), path) for path, operations in schema["paths"].items()
                      for method in operations)
    assert len(expected) >= 10, expected
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    elsewhere: list[str] = []
    page.on("request", lambda request: request.url.startswith(server.address)
            or request.url.startswith("data:") or elsewhere.append(request.url))
    try:
        answer = page.goto(server.docs_link)
        assert answer is not None and answer.status == 200
        operations = page.locator(".opblock")
        expect(operations).to_have_count(len(expected), timeout=30_000)
        assert "token" not in page.url  # out of the history once the cookie is set
        methods = operations.locator(".opblock-summary-method").all_inner_texts()
        paths = operations.locator(".opblock-summary-path").evaluate_all(
            "nodes => nodes.map(node => node.dataset.path || node.innerText)")
        assert sorted(zip(methods, paths, strict=True)) == expected
        assert page.get_by_text("Unable to render").count() == 0

        info = page.locator(".opblock", has=page.locator("[data-path='/api/info']"))
        info.locator(".opblock-summary").click()
        info.get_by_role("button", name="Try it out").click()
        info.get_by_role("button", name="Execute").click()
        status = info.locator(".live-responses-table tr.response .response-col_status").first
        expect(status).to_have_text("200", timeout=10_000)
        assert elsewhere == [], elsewhere
    finally:
        context.close()


def test_the_panel_runs_the_camera_and_switches_the_background(browser, server):
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    try:
        page.goto(server.panel_link)
        expect(page).to_have_title("rtmatte")
        assert "token" not in page.url  # taken out of the address once the cookie is set
        expect(page.locator("#source option")).to_have_count(2, timeout=10_000)  # file, camera
        expect(page.locator("#source")).to_have_value("file")

        # no virtual camera device here: said plainly, with the set-up hint
        page.check("#vcam")
        page.click("#start")
        expect(page.locator("#message")).to_contain_text("virtual camera", timeout=30_000)
        expect(page.locator("#message")).to_have_class(re.compile("error"))
        page.uncheck("#vcam")

        # start from the keyboard
        page.focus("#start")
        page.keyboard.press("Enter")
        expect(page.locator("body")).to_have_attribute("data-state", "running",
                                                       timeout=START_TIMEOUT_S * 1000)
        before = wait_for_corner(page, lambda c: not near(c, MAGENTA, 60))
        expect(page.locator("#fig-engine")).not_to_have_text("–")
        expect(page.locator("#fig-fps")).not_to_have_text("–", timeout=10_000)

        page.check("input[name=kind][value=colour]")
        page.locator("#colour").fill("#ff00ff")
        page.click("#apply-bg")
        expect(page.locator("#bg-now")).to_have_text("#ff00ff", timeout=10_000)
        after = wait_for_corner(page, lambda c: near(c, MAGENTA))
        assert not near(before, after), (before, after)

        # the effect off shows the camera's own picture again, without a restart
        page.click("#effect")
        expect(page.locator("#effect")).to_have_attribute("aria-pressed", "false")
        wait_for_corner(page, lambda c: not near(c, MAGENTA, 60))
        page.click("#effect")
        wait_for_corner(page, lambda c: near(c, MAGENTA))

        # a narrow window: one column, nothing wider than the screen, the controls reachable
        page.set_viewport_size({"width": 360, "height": 740})
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.locator("#stop").scroll_into_view_if_needed()
        expect(page.locator("#stop")).to_be_visible()
        page.click("#stop")
        expect(page.locator("body")).to_have_attribute("data-state", "stopped",
                                                       timeout=30_000)
        expect(page.locator("#start")).to_be_enabled()
    finally:
        context.close()
