"""The control panel walked as a person uses it, in Debian's headless Chromium (Playwright),
against ``rtmatte serve`` with a video file as its camera: start, switch backgrounds in the
gallery, a file that is no picture, their own picture kept across a restart, a reload, the photo
tab with two photos and a bad one, screenshots at 1280x800 and 360x740, and axe-core's
accessibility check of the panel (both tabs), the set-up page and /docs.

Screenshots go to ``$RTMATTE_SCREENSHOTS`` when set, else to a ``screenshots`` folder under
pytest's temporary folder (kept for the last three runs; the path is printed). axe-core comes
from the npm registry: ``npm install --prefix .ci/node axe-core@4`` (CI's ``.ci/run`` does it);
without it the accessibility test fails, it does not skip.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from conftest import region_means
from playwright.sync_api import Page, expect

from rtmatte.compose.backgrounds import cover_fit
from rtmatte.samples import clip_frame, make_clip, portrait, sunset_background
from rtmatte.server.launch import Served, serving

START_TIMEOUT_S = 120.0
#: the clip the server plays as its camera
CLIP_SIZE = (320, 240)
MAGENTA = (255, 0, 255)
CYAN = (0, 200, 220)
AXE = Path(__file__).resolve().parents[1] / ".ci/node/node_modules/axe-core/axe.min.js"

# the mean colour of the preview's top-right corner (the wall behind the astronaut), read from
# the <img> showing the MJPEG stream by drawing it into a canvas
CORNER_JS = """() => {
  const img = document.getElementById("preview");
  if (img.hidden || !img.naturalWidth) return null;
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
def data_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user data folder the servers keep their backgrounds in (not the tester's own)."""
    return tmp_path_factory.mktemp("data-home")


@contextmanager
def serve(folder: Path, data_home: Path, *flags: str) -> Iterator[Served]:
    """``rtmatte serve`` keeping its backgrounds under ``data_home``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_DATA_HOME", str(data_home))
        patch.delenv("RTMATTE_HOME", raising=False)
        with serving(folder / "server.log", *flags, timeout_s=START_TIMEOUT_S) as served:
            yield served


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, data_home: Path):
    folder = tmp_path_factory.mktemp("panel-walk")
    clip = make_clip(folder / "camera.mp4", frames=60, size=CLIP_SIZE, fps=4, audio=False)
    with serve(folder, data_home, "--source", str(clip),
               "--vcam-device", "/dev/rtmatte-test-no-such-device") as served:
        yield served


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("RTMATTE_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {folder}")
    return folder


def corner(page: Page) -> list[float] | None:
    return page.evaluate(CORNER_JS)


def near(colour, target, tolerance: float = 30) -> bool:
    return max(abs(a - b) for a, b in zip(colour, target, strict=True)) < tolerance


def wait_for_corner(page: Page, test, what: str, timeout: float = 60.0) -> list[float]:
    """The preview's corner once ``test`` holds for it (the timeout only bounds a hang)."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = corner(page)
        if seen is not None and test(seen):
            return seen
        page.wait_for_timeout(100)
    raise AssertionError(f"the preview never showed {what} (its corner: {seen})")


def sunset_corner() -> np.ndarray:
    """What the preview's corner shows on the sunset scene: the scene fitted to the clip."""
    width, height = CLIP_SIZE
    fitted = cover_fit(sunset_background(1280, 720), height, width)
    size = round(width / 20)
    return fitted[:size, -size:].reshape(-1, 3).mean(axis=0)


def png_bytes(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


def live(server) -> dict:
    return httpx.get(f"{server.address}api/live", timeout=10,
                     headers={"Authorization": f"Bearer {server.token}"}).json()


def tile(page: Page, label: str):
    return page.locator("#tiles label.tile", has_text=label)


def test_a_person_walks_the_camera_panel(browser, server, shots):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.address)
    page = context.new_page()
    try:
        page.goto(server.panel_link)
        expect(page).to_have_title("rtmatte")
        assert "token" not in page.url
        # only what is here is offered: the file, no "default camera" on a machine without one
        expect(page.locator("#source option").first).to_have_attribute("value", "file")
        assert "default camera" not in page.locator("#source").inner_text().lower()
        expect(page.locator("#tiles input[name=bg]")).to_have_count(8, timeout=10_000)
        # at rest: blur ticked (the server's default), the effect on, no figures
        expect(page.locator("#tiles input[value=blur]")).to_be_checked()
        expect(page.locator("#effect")).to_have_attribute("aria-checked", "true")
        for figure in ("#fig-fps", "#fig-latency", "#fig-dropped", "#fig-engine"):
            expect(page.locator(figure)).to_have_text("–")
        # the overlay address for OBS, to copy, only where this server has the overlay page
        overlay = httpx.get(f"{server.address}overlay", timeout=10,
                            headers={"Authorization": f"Bearer {server.token}"})
        # and with it, "no background" (the overlay carries alpha; a virtual camera cannot)
        none = tile(page, "None (for OBS)")
        has_overlay = overlay.status_code == 200
        if has_overlay:
            expect(page.locator("#overlay-url")).to_have_value(
                f"{server.address}overlay?token={server.token}")
            expect(none).to_be_visible()
        else:
            assert overlay.status_code == 404, overlay.status_code
            expect(page.locator("#overlay")).to_be_hidden()
            expect(none).to_be_hidden()

        # no virtual camera here: one message in plain words, the command to copy, the page
        page.check("#vcam")
        page.click("#power")
        message = page.locator("#messages .message")
        expect(message).to_have_count(1, timeout=START_TIMEOUT_S * 1000)
        expect(message).to_contain_text("virtual camera")
        said = message.locator("p").inner_text()  # the words; the command is apart
        assert "/etc" not in said and "modprobe" not in said and len(said) < 300, said
        command = message.locator("code.command")
        assert 'sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label="rtmatte"' \
            in command.inner_text()
        message.get_by_role("button", name="Copy").click()
        expect(message.get_by_role("button", name="Copied")).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == command.inner_text()
        help_link = message.get_by_role("link")
        assert help_link.get_attribute("href") == "/help/virtual-camera"
        with context.expect_page() as opened:
            help_link.click()
        help_page = opened.value
        help_page.wait_for_load_state()
        expect(help_page.locator("h1")).to_have_text("Set up the virtual camera")
        expect(help_page.locator("pre code").first).to_have_text(command.inner_text())
        help_page.close()
        page.uncheck("#vcam")

        # the overlay's card never goes away while the page is open (it would flicker off
        # after each change if the answers to changes left it out)
        page.evaluate("""() => {
          window.overlayHidden = 0;
          new MutationObserver(() => { window.overlayHidden += document
            .getElementById("overlay").hidden ? 1 : 0; })
            .observe(document.getElementById("overlay"), {attributes: true});
        }""")

        # start from the keyboard; the message no longer applies and goes
        page.focus("#power")
        page.keyboard.press("Enter")
        expect(page.locator("body")).to_have_attribute("data-state", "running",
                                                       timeout=START_TIMEOUT_S * 1000)
        expect(page.locator("#messages .message")).to_have_count(0)
        wait_for_corner(page, lambda c: not near(c, MAGENTA, 60), "the camera")
        page.click("#details summary")
        expect(page.locator("#fig-engine")).not_to_have_text("–")
        expect(page.locator("#fig-fps")).not_to_have_text("–", timeout=10_000)
        page.screenshot(path=shots / "camera-1280x800.png", full_page=True)
        if has_overlay:  # still offered while the camera runs; no background shows a checker
            expect(page.locator("#overlay")).to_be_visible()
            none.click()
            wait_for_corner(page, lambda c: max(c) - min(c) < 15 and 90 < c[0] < 165,
                            "the transparency checkerboard")

        # the gallery: each choice applies at once, with no button to confirm it
        tile(page, "Colour").click()
        expect(page.locator("#colour-controls")).to_be_visible()
        page.locator("#colour").fill("#ff00ff")
        wait_for_corner(page, lambda c: near(c, MAGENTA), "magenta")
        tile(page, "Sunset over the sea").click()
        scene = sunset_corner()
        wait_for_corner(page, lambda c: near(c, scene), f"the sunset scene ({scene})")
        tile(page, "Blur").click()
        page.locator("#blur-strength").fill("3")
        page.locator("#blur-strength").dispatch_event("change")
        deadline = time.monotonic() + 30
        while live(server).get("blur") != 3.0:
            assert time.monotonic() < deadline, live(server)
            page.wait_for_timeout(100)

        # from the keyboard: the arrow keys move between the tiles, each applying at once
        page.focus("#tiles input[value=green]")
        page.keyboard.press("ArrowRight")
        expect(page.locator("#tiles input[value=blue]")).to_be_checked()
        wait_for_corner(page, lambda c: near(c, (0, 71, 187)), "the blue screen")

        # a file that is no picture: said in the message area, in plain words; nothing added
        page.set_input_files("#bg-upload", files=[{"name": "notes.txt", "mimeType": "text/plain",
                                                    "buffer": b"shopping list"}])
        bad = page.locator("#messages .message", has_text="notes.txt")
        expect(bad).to_contain_text("is not a picture or a video rtmatte can read")
        assert "Traceback" not in bad.inner_text() and "/tmp" not in bad.inner_text()
        expect(page.locator("#tiles input[name=bg]")).to_have_count(8)

        # their own picture: added to the gallery, in use at once; the bad file's message goes
        wall = np.full((240, 320, 3), CYAN, np.uint8)
        page.set_input_files("#bg-upload", files=[{"name": "my wall.png", "mimeType":
                                                    "image/png", "buffer": png_bytes(wall)}])
        expect(page.locator("#tiles input[name=bg]")).to_have_count(9, timeout=30_000)
        own = page.locator("#tiles .own input[name=bg]")
        expect(own).to_be_checked(timeout=30_000)
        expect(page.locator("#messages .message")).to_have_count(0)
        wait_for_corner(page, lambda c: near(c, CYAN), "their own picture")

        # the effect off: the camera's own picture, without a restart
        page.click("#effect")
        expect(page.locator("#effect")).to_have_attribute("aria-checked", "false")
        wait_for_corner(page, lambda c: not near(c, CYAN, 60), "the camera's own picture")

        if has_overlay:
            assert page.evaluate("window.overlayHidden") == 0

        # a reload shows the state in use: running, their picture ticked, the effect off
        in_use = live(server)
        assert in_use["choice"] == own.get_attribute("value") and in_use["effect"] is False
        page.reload()
        expect(page.locator("body")).to_have_attribute("data-state", "running")
        expect(page.locator(f"#tiles input[value={in_use['choice']}]")).to_be_checked()
        expect(page.locator("#effect")).to_have_attribute("aria-checked", "false")
        expect(page.locator("#power")).to_have_text("Stop camera")
        wait_for_corner(page, lambda c: not near(c, CYAN, 60), "the camera's own picture")
        page.click("#effect")
        wait_for_corner(page, lambda c: near(c, CYAN), "their own picture again")

        # a phone-width window: one column, nothing wider than the screen
        page.set_viewport_size({"width": 360, "height": 740})
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.screenshot(path=shots / "camera-360x740.png", full_page=True)
        page.locator("#power").scroll_into_view_if_needed()
        page.click("#power")
        expect(page.locator("body")).to_have_attribute("data-state", "stopped", timeout=30_000)
        # at rest again: no figures left from the run, the choices kept
        for figure in ("#fig-fps", "#fig-latency", "#fig-dropped", "#fig-engine"):
            expect(page.locator(figure)).to_have_text("–")
        expect(page.locator("#power")).to_have_text("Start camera")
        expect(page.locator(f"#tiles input[value={in_use['choice']}]")).to_be_checked()
    finally:
        context.close()


def test_their_own_backgrounds_are_kept_across_a_restart(server, data_home, tmp_path):
    auth = {"Authorization": f"Bearer {server.token}"}
    wall = png_bytes(np.full((90, 160, 3), (200, 120, 40), np.uint8))
    added = httpx.post(f"{server.address}api/backgrounds", headers=auth, timeout=30,
                       files={"file": ("../../kitchen wall.png", wall)})
    assert added.status_code == 201, added.text
    item = added.json()
    assert item["own"] and item["label"] == "kitchen wall.png"
    stored = list((data_home / "rtmatte" / "backgrounds" / "own").iterdir())
    assert any(path.name.endswith("~kitchen_wall.png") for path in stored), stored
    assert all(path.parent == data_home / "rtmatte" / "backgrounds" / "own" for path in stored)

    with serve(tmp_path, data_home) as again:
        auth_again = {"Authorization": f"Bearer {again.token}"}
        listed = httpx.get(f"{again.address}api/backgrounds", headers=auth_again,
                           timeout=10).json()
        assert item in listed
        thumbnail = httpx.get(f"{again.address}{item['thumbnail'][1:]}", headers=auth_again,
                              timeout=10)
        picture = cv2.imdecode(np.frombuffer(thumbnail.content, np.uint8), cv2.IMREAD_COLOR)
        assert np.abs(picture.reshape(-1, 3).mean(axis=0) - (40, 120, 200)).max() < 12
        gone = httpx.delete(f"{again.address}api/backgrounds/{item['id']}", headers=auth_again,
                            timeout=10)
        assert gone.status_code == 204
    assert not any(path.name.endswith("~kitchen_wall.png")
                   for path in (data_home / "rtmatte" / "backgrounds" / "own").iterdir())


def test_the_photo_tab_cuts_out_each_photo(browser, server, shots, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    try:
        page.goto(server.panel_link)
        page.focus("#tab-camera")
        page.keyboard.press("ArrowRight")  # the tabs work from the keyboard
        expect(page.locator("#tab-photos")).to_have_attribute("aria-selected", "true")
        expect(page.locator("#photo-view")).to_be_visible()
        expect(page.locator("#camera-view")).to_be_hidden()

        photos = {"astronaut.png": portrait(), "at the desk.png": clip_frame(5, 10, 400, 300)}
        files = [{"name": name, "mimeType": "image/png", "buffer": png_bytes(rgb)}
                 for name, rgb in photos.items()]
        files.append({"name": "readme.txt", "mimeType": "text/plain", "buffer": b"not a photo"})
        page.set_input_files("#photos", files=files)
        cards = page.locator("#photo-results li.photo")
        expect(cards).to_have_count(3)
        for name in photos:
            card = cards.filter(has_text=name)
            expect(card).to_have_attribute("data-state", "done", timeout=120_000)
            expect(card.locator(".photo-picture img")).to_be_visible()
            with page.expect_download() as download:
                card.get_by_role("link", name=f"Download {name}, cut out").click()
            saved = tmp_path / download.value.suggested_filename
            download.value.save_as(saved)
            assert saved.suffix == ".png", saved
            rgba = cv2.imread(str(saved), cv2.IMREAD_UNCHANGED)
            assert rgba.shape == (*photos[name].shape[:2], 4), rgba.shape
            person, background = region_means(rgba[..., 3].astype(np.float32) / 255)
            assert person > 0.9 and background < 0.1, (name, person, background)
        bad = cards.filter(has_text="readme.txt")
        expect(bad).to_have_attribute("data-state", "failed", timeout=60_000)
        expect(bad.locator(".photo-state")).to_have_text(
            "This is not a photo rtmatte can read. Choose a JPEG, PNG or WebP picture.")
        page.screenshot(path=shots / "photos-1280x800.png", full_page=True)

        # on a chosen background: a colour, no transparency left
        page.select_option("#photo-bg", "white")
        page.set_input_files("#photos", files=files[:1])
        card = cards.first
        expect(card).to_have_attribute("data-state", "done", timeout=120_000)
        with page.expect_download() as download:
            card.get_by_role("link").click()
        saved = tmp_path / "on-white.png"
        download.value.save_as(saved)
        picture = cv2.imread(str(saved), cv2.IMREAD_UNCHANGED)
        assert picture.ndim == 3 and picture.shape[2] == 3
        assert picture[:12, -12:].mean() > 240  # the wall behind her is white now

        # dropped on the page, onto a scene of the gallery
        page.select_option("#photo-bg", label="Sunset over the sea")
        desk = png_bytes(clip_frame(3, 10, 320, 240))
        dropped = page.evaluate_handle("""bytes => {
          const data = new DataTransfer();
          data.items.add(new File([new Uint8Array(bytes)], "dropped.png", {type: "image/png"}));
          return data;
        }""", list(desk))
        page.dispatch_event("#drop", "drop", {"dataTransfer": dropped})
        card = cards.filter(has_text="dropped.png")
        expect(card).to_have_attribute("data-state", "done", timeout=120_000)
        with page.expect_download() as download:
            card.get_by_role("link").click()
        saved = tmp_path / "dropped.png"
        download.value.save_as(saved)
        picture = cv2.cvtColor(cv2.imread(str(saved), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        assert near(picture[:16, -16:].reshape(-1, 3).mean(axis=0), sunset_corner()), \
            picture[:16, -16:].reshape(-1, 3).mean(axis=0)

        page.set_viewport_size({"width": 360, "height": 740})
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.screenshot(path=shots / "photos-360x740.png", full_page=True)
    finally:
        context.close()


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("async () => (await axe.run(document)).violations.map(v => "
                          "({id: v.id, impact: v.impact, help: v.help, "
                          "nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}))")
    return [f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes']}" for v in found
            if v["impact"] in ("serious", "critical")]


def test_the_pages_have_no_serious_accessibility_problems(browser, server, shots):
    """axe-core on the panel (both tabs, wide and phone-width, with a message up, light and
    dark), its set-up page and /docs. The pages' policy would refuse the injected script, so
    these contexts bypass it."""
    assert AXE.is_file(), (f"axe-core is missing at {AXE}: npm install --prefix .ci/node "
                           "axe-core@4 (as .ci/run does)")
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    page = context.new_page()
    problems: dict[str, list[str]] = {}
    try:
        page.goto(server.panel_link)
        expect(page.locator("#tiles input[name=bg]").first).to_be_attached(timeout=10_000)
        problems["panel, camera"] = serious_violations(page)
        page.click("#tab-photos")
        problems["panel, photos"] = serious_violations(page)
        page.set_viewport_size({"width": 360, "height": 740})
        page.reload()
        expect(page.locator("#tiles input[name=bg]").first).to_be_attached(timeout=10_000)
        problems["panel at 360 px"] = serious_violations(page)
        page.check("#vcam")  # no virtual camera here: the message with its command and link
        page.click("#power")
        expect(page.locator("#messages .message code.command")).to_be_visible(
            timeout=START_TIMEOUT_S * 1000)
        page.uncheck("#vcam")
        problems["panel at 360 px, with a message"] = serious_violations(page)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.screenshot(path=shots / "message-360x740.png", full_page=True)
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(f"{server.address}help/virtual-camera")
        problems["set-up page"] = serious_violations(page)
        page.goto(server.docs_link)
        expect(page.locator(".opblock").first).to_be_visible(timeout=30_000)
        problems["/docs"] = serious_violations(page)
    finally:
        context.close()
    dark = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True,
                               color_scheme="dark")
    try:
        page = dark.new_page()
        page.goto(server.panel_link)
        expect(page.locator("#tiles input[name=bg]").first).to_be_attached(timeout=10_000)
        problems["panel, dark"] = serious_violations(page)
        page.screenshot(path=shots / "camera-dark-1280x800.png", full_page=True)
    finally:
        dark.close()
    assert not any(problems.values()), problems
