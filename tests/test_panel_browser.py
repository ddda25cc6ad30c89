"""The pages' token and the API docs in a real browser: headless Chromium (Debian's) driven by
Playwright, against ``rtmatte serve`` on a free loopback port with a video file as its
camera, opened as a person does: by the links the command prints, with the token it made.

Chromium must start: a machine without it fails this test rather than skipping it (CI installs
Debian's ``chromium``; Playwright's own browser download is not used).
"""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from rtmatte.samples import make_clip
from rtmatte.server.launch import serving

START_TIMEOUT_S = 90.0


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
