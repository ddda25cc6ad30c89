"""``rtmatte serve``'s HTTP API against the real app in-process: the real model, real uploads."""

from __future__ import annotations

import re
import tempfile
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import HANG_S, region_means, wait_until
from fastapi.testclient import TestClient

from rtmatte import api
from rtmatte.samples import clip_frame, make_clip
from rtmatte.server.app import create_app
from rtmatte.server.auth import cookie_name
from rtmatte.server.config import ServerConfig
from rtmatte.server.redact import for_client
from rtmatte.settings import load_settings

TOKEN = "test-token-0123456789"
PORT = 7860
BASE = f"http://127.0.0.1:{PORT}"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
KEEP_S = 6.0
LIVE_FPS = 4


@pytest.fixture(scope="module")
def temp_root(tmp_path_factory: pytest.TempPathFactory):
    """Where the server's own temporary folders go, so a test can see that none is left."""
    root = tmp_path_factory.mktemp("server-temp")
    previous, tempfile.tempdir = tempfile.tempdir, str(root)
    yield root
    tempfile.tempdir = previous


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("server-media")
    portrait = folder / "portrait.png"
    cv2.imwrite(str(portrait), cv2.cvtColor(clip_frame(0, 1, 320, 240), cv2.COLOR_RGB2BGR))
    beach = folder / "beach.png"
    cv2.imwrite(str(beach), np.full((60, 80, 3), (30, 200, 250), np.uint8))  # BGR: warm yellow
    whole = make_clip(folder / "whole.mkv", frames=24, size=(320, 240), fps=12).read_bytes()
    cut = folder / "cut.mkv"  # its second half lost: the job fails after twelve frames
    cut.write_bytes(whole[: len(whole) * 6 // 10])
    broken = folder / "broken.mkv"  # a video's header, then nothing that decodes
    broken.write_bytes(whole[:2000] + bytes(50_000))
    return {
        "cut": cut,
        "broken": broken,
        "portrait": portrait,
        "beach": beach,
        "clip": make_clip(folder / "talk.mp4", frames=12, size=(320, 240), fps=12),
        # a slow clip as the panel's camera: a few pictures a second for twelve seconds
        "live": make_clip(folder / "live.mp4", frames=12 * LIVE_FPS, size=(320, 240),
                          fps=LIVE_FPS, audio=False),
    }


@pytest.fixture(scope="module")
def client(media, temp_root):
    config = ServerConfig(token=TOKEN, port=PORT, settings=load_settings(), max_upload_mb=2.0,
                          queue=1, keep_minutes=KEEP_S / 60, source=media["live"],
                          vcam_device="/dev/rtmatte-test-no-such-device")
    with TestClient(create_app(config), base_url=BASE) as test_client:
        yield test_client


def rgba_of(data: bytes) -> np.ndarray:
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert pixels is not None, "the answer is not a picture"
    code = cv2.COLOR_BGRA2RGBA if pixels.shape[2] == 4 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(pixels, code)


def remove(client: TestClient, path: Path, **fields: str) -> np.ndarray:
    with path.open("rb") as fh:
        answer = client.post("/api/remove", headers=AUTH, files={"file": (path.name, fh)},
                             data=fields)
    assert answer.status_code == 200, answer.text
    return rgba_of(answer.content)


def still_up(client: TestClient) -> None:
    assert client.get("/api/info", headers=AUTH).status_code == 200


# --- the token -------------------------------------------------------------------------------

def test_every_route_needs_the_token(client):
    for path in ("/", "/api/info", "/docs", "/openapi.json", "/static/panel.js", "/api/live"):
        bare = client.get(path)
        assert bare.status_code == 401, path
        if path in ("/", "/docs"):  # a person opened it: a page that says how to get in
            assert bare.headers["content-type"].startswith("text/html"), path
            assert "printed" in bare.text and "rtmatte serve" in bare.text, path
        else:
            assert "token" in bare.json()["detail"]
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get(path, headers=AUTH).status_code == 200, path
    assert client.post("/api/live/stop").status_code == 401
    assert client.get("/api/info", headers={"Authorization": f"Basic {TOKEN}"}).status_code \
        == 401


def test_the_api_docs_load_nothing_from_elsewhere(client):
    page = client.get("/docs", headers=AUTH)
    assert page.status_code == 200
    assert not re.search(r"""(src|href)=["']?https?://""", page.text), page.text
    assets = re.findall(r"""["'](/docs-assets/[^"']+|/static/[^"']+)["']""", page.text)
    assert {Path(asset).suffix for asset in assets} >= {".js", ".css"}, assets
    for asset in assets:
        assert client.get(asset, headers=AUTH).status_code == 200, asset
        assert client.get(asset).status_code == 401, asset
    # that the page renders every route is tested in Chromium (test_panel_browser.py)


def test_the_address_token_leaves_a_strict_cookie(client):
    assert client.get(f"/?token={TOKEN}x").status_code == 401
    page = client.get(f"/?token={TOKEN}")
    assert page.status_code == 200 and "<title>rtmatte</title>" in page.text
    cookie = page.headers["set-cookie"]
    assert cookie.startswith(f"{cookie_name(PORT)}=") and "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    try:
        assert client.get("/api/info").status_code == 200  # the cookie alone now
        assert client.get("/openapi.json").json()["paths"]["/api/remove"]
    finally:
        client.cookies.clear()
    assert client.get("/api/info").status_code == 401
    # a change is never made on the token in the address alone
    assert client.post(f"/api/live/stop?token={TOKEN}").status_code == 401


#: near misses of TOKEN, each the one a broken comparison would let in: a prefix or the empty
#: string (token.startswith(given)), a longer one (given.startswith(token)), another case
#: (a case-blind comparison), a suffix (endswith) and one character off (a partial comparison)
NEAR_MISSES = {
    "empty": "",
    "first character": TOKEN[:1],
    "prefix": TOKEN[:-1],
    "suffix": TOKEN[1:],
    "longer": TOKEN + "0",
    "upper case": TOKEN.upper(),
    "one character changed": TOKEN[:-1] + "8",
}


def _with_header(client: TestClient, token: str):
    return client.get("/api/info", headers={"Authorization": f"Bearer {token}"})


def _with_cookie(client: TestClient, token: str):
    return client.get("/api/info", headers={"Cookie": f"{cookie_name(PORT)}={token}"})


def _in_the_address(client: TestClient, token: str):
    return client.get("/", params={"token": token})


@pytest.mark.parametrize("way", [_with_header, _with_cookie, _in_the_address],
                         ids=["header", "cookie", "address"])
def test_only_the_exact_token_is_taken(client, way):
    client.cookies.clear()
    try:
        for kind, wrong in NEAR_MISSES.items():
            answer = way(client, wrong)
            assert answer.status_code == 401, (kind, wrong)
            assert "set-cookie" not in answer.headers, kind
        assert way(client, TOKEN).status_code == 200
    finally:
        client.cookies.clear()


def test_the_address_token_opens_pages_only(client):
    """Only the pages a person opens from the printed link take the token in the address; an
    API route, an asset or the schema never do, and OPTIONS never leaves the cookie."""
    client.cookies.clear()
    try:
        for path in ("/api/info", "/openapi.json", "/static/panel.js", "/api/live",
                     "/docs-assets/swagger-ui.css"):
            answer = client.get(path, params={"token": TOKEN})
            assert answer.status_code == 401, path
            assert "set-cookie" not in answer.headers, path
            assert "header" in answer.json()["detail"], path
        for path in ("/", "/api/info"):
            answer = client.options(path, params={"token": TOKEN})
            assert "set-cookie" not in answer.headers, path
        assert client.get("/api/info").status_code == 401
        docs = client.get("/docs", params={"token": TOKEN})
        assert docs.status_code == 200 and docs.headers["set-cookie"].startswith(
            f"{cookie_name(PORT)}=")
        assert client.get("/api/info").status_code == 200  # the cookie the docs page left
    finally:
        client.cookies.clear()


def test_cross_site_requests_cannot_change_anything(client):
    hostile = [{"Origin": "http://evil.example"}, {"Origin": "null"},
               {"Origin": "https://127.0.0.1:7860"}, {"Origin": "http://127.0.0.1:7861"},
               {"Origin": "http://127.0.0.1"}, {"Origin": "ws://127.0.0.1:7860"},
               {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}]
    for headers in hostile:
        answer = client.post("/api/live/stop", headers={**AUTH, **headers})
        assert answer.status_code == 403, headers
    # another name that resolves here (DNS rebinding) is refused on every route
    for host in ("evil.example:7860", "[::1", ""):
        assert client.get("/api/info", headers={**AUTH, "Host": host}).status_code == 403, host
    own = {"Origin": BASE, "Sec-Fetch-Site": "same-origin"}
    assert client.post("/api/live/stop", headers={**AUTH, **own}).status_code == 200


# --- pictures --------------------------------------------------------------------------------

def test_remove_gives_the_command_lines_matte(client, media, tmp_path):
    served = remove(client, media["portrait"], bg="transparent")
    assert served.shape == (240, 320, 4)
    cli_out = tmp_path / "cli.png"
    api.process(media["portrait"], cli_out, bg="transparent")
    expected = rgba_of(cli_out.read_bytes())
    difference = np.abs(served.astype(int) - expected.astype(int))
    assert difference[..., 3].max() <= 1, "the server's matte differs from the command line's"
    person, background = region_means(served[..., 3] / 255.0)
    assert person > 0.8 and background < 0.2


def test_remove_composites_a_colour_and_an_uploaded_picture(client, media):
    original = cv2.cvtColor(cv2.imread(str(media["portrait"])), cv2.COLOR_BGR2RGB)
    alpha = remove(client, media["portrait"])[..., 3] / 255.0
    far = alpha < 0.02
    green = remove(client, media["portrait"], bg="#00ff00")
    assert green.shape == (240, 320, 3)
    assert np.abs(green[far].astype(int) - (0, 255, 0)).max() <= 8
    assert np.abs(green[alpha > 0.98].astype(int) - original[alpha > 0.98]).mean() < 12
    with media["portrait"].open("rb") as fh, media["beach"].open("rb") as bg:
        answer = client.post("/api/remove", headers=AUTH, data={"format": "jpeg"},
                             files={"file": ("p.png", fh), "bg_file": ("beach.png", bg)})
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
    beach = rgba_of(answer.content)
    assert np.abs(beach[far].astype(int) - (250, 200, 30)).mean() < 8
    blurred = remove(client, media["portrait"], bg="blur:2")
    assert np.abs(blurred[far].astype(int) - original[far]).mean() > 2  # the room, blurred


def test_concurrent_pictures_share_the_warm_model_safely(client, media):
    reference = remove(client, media["portrait"])
    results: list[np.ndarray] = []
    failures: list[BaseException] = []

    def one() -> None:
        try:
            results.append(remove(client, media["portrait"]))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures and len(results) == 6
    for result in results:  # no request saw another's recurrent state
        assert np.abs(result.astype(int) - reference.astype(int)).max() <= 1


# --- errors ----------------------------------------------------------------------------------

def test_each_bad_request_gets_its_code_and_a_message(client, media):
    def post(path: str, files=None, data=None, **headers: str):
        return client.post(path, headers={**AUTH, **headers}, files=files, data=data)

    text = ("notes.txt", b"this is not a picture")
    cases = [
        (post("/api/remove", files={"file": text}), 415),
        (post("/api/remove", files={"file": ("empty.png", b"")}), 415),
        (post("/api/jobs", files={"file": text}), 415),
        (post("/api/jobs", files={"file": ("p.png", media["portrait"].read_bytes())}), 415),
        (post("/api/remove", data={"bg": "blur"}), 422),
        (post("/api/remove", files={"file": ("p.png", media["portrait"].read_bytes())},
              data={"bg": "/etc/hostname"}), 422),
        (post("/api/remove", files={"file": ("p.png", media["portrait"].read_bytes())},
              data={"bg": "#12zz45"}), 422),
        (post("/api/remove", files={"file": ("p.png", media["portrait"].read_bytes())},
              data={"bg": "blur:99"}), 422),
        (post("/api/remove", files={"file": ("p.png", media["portrait"].read_bytes())},
              data={"format": "jpeg"}), 422),
        (post("/api/jobs", files={"file": ("t.mp4", media["clip"].read_bytes())},
              data={"bg": "transparent", "format": "mp4"}), 422),
        (post("/api/remove", files={"file": ("big.png", b"\0" * (3 << 20))}), 413),
        (client.get("/api/jobs/0123abcd", headers=AUTH), 404),
        (client.get("/api/jobs/0123abcd/result", headers=AUTH), 404),
        (client.delete("/api/jobs/0123abcd", headers=AUTH), 404),
    ]
    for answer, code in cases:
        assert answer.status_code == code, (code, answer.text)
        assert isinstance(answer.json()["detail"], str) and answer.json()["detail"]
        still_up(client)


def test_a_body_without_a_length_is_cut_at_the_limit(client):
    boundary = "rtmatteboundary"

    def body():
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
               f"filename=\"big.png\"\r\n\r\n").encode()
        for _ in range(6):
            yield b"\0" * (1 << 19)
        yield f"\r\n--{boundary}--\r\n".encode()

    answer = client.post("/api/remove", content=body(), headers={
        **AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert answer.status_code == 413, answer.text
    still_up(client)


# --- video jobs ------------------------------------------------------------------------------

def submit(client: TestClient, path: Path, **fields: str):
    with path.open("rb") as fh:
        return client.post("/api/jobs", headers=AUTH, files={"file": (path.name, fh)},
                           data=fields)


def wait_for(client: TestClient, job_id: str, states: set[str], timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/api/jobs/{job_id}", headers=AUTH).json()
        if status["state"] in states:
            return status
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached {states}: {status}")


def test_a_video_job_keeps_its_audio_and_its_result_expires(client, media, tmp_path, temp_root):
    submitted = time.time()
    answer = submit(client, media["clip"], bg="#0000ff")
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["id"]
    assert answer.headers["location"] == f"/api/jobs/{job_id}"
    # the job finished after the last look that found it unfinished: it is kept from then on
    unfinished_at = submitted
    while True:
        asked = time.time()
        status = client.get(f"/api/jobs/{job_id}", headers=AUTH).json()
        if status["state"] in ("done", "failed"):
            break
        unfinished_at = asked
        assert asked < submitted + HANG_S, status
        time.sleep(0.1)  # a poll interval: the state is what is waited for
    assert status["state"] == "done", status
    assert 0 <= status["expires_in_s"] <= KEEP_S
    assert status["progress"] == {"done": 12, "total": 12} and status["fps"] > 0
    result = client.get(f"/api/jobs/{job_id}/result", headers=AUTH)
    assert result.status_code == 200
    assert 'filename="talk.rtmatte.mp4"' in result.headers["content-disposition"]
    video = tmp_path / "result.mp4"
    video.write_bytes(result.content)
    with av.open(str(video)) as container:
        assert len(container.streams.audio) == 1
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 12 and frames[0].shape == (240, 320, 3)
    corner = frames[-1][:20, -20:].reshape(-1, 3).mean(axis=0)
    assert corner[2] > 200 and corner[0] < 40  # the wall is blue now
    # kept for the stated time, then deleted with its files (the janitor's round is ours to
    # wait for, however late it comes)
    wait_until(lambda: client.get(f"/api/jobs/{job_id}", headers=AUTH).status_code == 404,
               "the job's expiry", KEEP_S + HANG_S)
    assert time.time() >= unfinished_at + KEEP_S
    wait_until(lambda: not list(temp_root.glob("rtmatte-job-*")), "its files removed")


def test_the_queue_is_bounded_and_jobs_cancel(client, media, temp_root):
    first = submit(client, media["clip"]).json()["id"]
    wait_for(client, first, {"running"})
    second = submit(client, media["clip"])
    assert second.status_code == 202 and second.json()["state"] == "queued"
    third = submit(client, media["clip"])
    assert third.status_code == 429 and "waiting" in third.json()["detail"]
    for job_id in (second.json()["id"], first):  # a waiting one, then the running one
        assert client.delete(f"/api/jobs/{job_id}", headers=AUTH).status_code == 204
        assert client.get(f"/api/jobs/{job_id}", headers=AUTH).status_code == 404
    assert list(temp_root.glob("rtmatte-job-*")) == []
    still_up(client)


def assert_no_server_path(text: str, temp_root: Path) -> None:
    """The client is told the names it gave, never where the server keeps its files."""
    for private in (str(temp_root), tempfile.gettempdir(), "rtmatte-job-", "rtmatte-panel-"):
        assert private not in text, text
    assert not re.search(r"(^|[\s'\"(])/(tmp|home|root|var|work|usr)\b", text), text


def test_a_message_keeps_routes_and_devices_but_no_server_path(tmp_path):
    job = tmp_path / "rtmatte-job-x"
    said = for_client(f"{job}/input.mkv: cut off; see {job}/output.partial.mp4, "
                      f"'{Path.home()}/secret/notes.txt' and {tmp_path}; send pictures to "
                      "/api/remove; /dev/video9 cannot be opened; 1/2 of it",
                      {job / "input.mkv": "my clip.mkv"})
    assert said == ("my clip.mkv: cut off; see output.partial.mp4, 'notes.txt' and "
                    f"{tmp_path.name}; send pictures to /api/remove; /dev/video9 cannot be "
                    "opened; 1/2 of it")


def test_a_failed_job_names_the_upload_not_the_servers_paths(client, media, temp_root):
    with media["cut"].open("rb") as fh:
        answer = client.post("/api/jobs", headers=AUTH,
                             files={"file": ("holiday trip.mkv", fh)})
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["id"]
    try:
        status = wait_for(client, job_id, {"done", "failed"})
        assert status["state"] == "failed", status
        result = client.get(f"/api/jobs/{job_id}/result", headers=AUTH)
        assert result.status_code == 409
        listed = [job for job in client.get("/api/jobs", headers=AUTH).json()
                  if job["id"] == job_id]
        for said in (status["error"], result.json()["detail"], listed[0]["error"]):
            assert "holiday trip.mkv: " in said and "truncated" in said, said
            assert_no_server_path(said, temp_root)
    finally:
        assert client.delete(f"/api/jobs/{job_id}", headers=AUTH).status_code == 204


# --- the panel's camera session --------------------------------------------------------------


def frame_of(client: TestClient) -> np.ndarray:
    answer = client.get("/api/live/frame.jpg", headers=AUTH)
    assert answer.status_code == 200, answer.text
    return rgba_of(answer.content)


def wait_for_corner(client: TestClient, colour: tuple[int, int, int],
                    timeout: float = 120.0, tolerance: float = 25) -> np.ndarray:
    """The newest preview once its top-right corner (wall) shows ``colour``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        picture = frame_of(client)
        if np.abs(picture[:16, -16:].reshape(-1, 3).mean(axis=0) - colour).max() < tolerance:
            return picture
        time.sleep(0.1)
    raise AssertionError(f"the preview never showed {colour}")


def test_the_camera_session_switches_background_and_effect_live(client, media, temp_root):
    assert client.get("/api/live/frame.jpg", headers=AUTH).status_code == 422
    started = client.post("/api/live/start", headers=AUTH, json={"source": "file"})
    assert started.status_code == 200, started.text
    try:
        assert started.json()["state"] == "running" and started.json()["engine"]
        again = client.post("/api/live/start", headers=AUTH, json={"source": "file"})
        assert again.status_code == 409
        switched = client.post("/api/live/background", headers=AUTH, data={"bg": "#ff00ff"})
        assert switched.status_code == 200 and switched.json()["background"] == "#ff00ff"
        wait_for_corner(client, (255, 0, 255))
        # no background, for the OBS overlay (no virtual camera here): a checkerboard preview
        clear = client.post("/api/live/background", headers=AUTH, data={"bg": "transparent"})
        assert clear.status_code == 200 and clear.json()["background"] == "transparent"
        checker = wait_for_corner(client, (128, 128, 128), tolerance=40)
        assert checker[:32, -32:].std() > 15  # squares of two greys, not one flat colour
        client.post("/api/live/background", headers=AUTH, data={"bg": "#ff00ff"})
        wait_for_corner(client, (255, 0, 255))
        assert client.post("/api/live/background", headers=AUTH,
                           data={"bg": "nonsense"}).status_code == 422
        assert client.get("/api/live", headers=AUTH).json()["background"] == "#ff00ff"
        assert client.post("/api/live/background", headers=AUTH, files={
            "bg_file": ("notes.txt", b"not a picture")}).status_code == 415
        uploaded = client.post("/api/live/background", headers=AUTH, files={
            "bg_file": ("../../beach.png", media["beach"].read_bytes())})
        assert uploaded.status_code == 200 and uploaded.json()["background"] == "uploaded picture"
        wait_for_corner(client, (250, 200, 30))
        client.post("/api/live/background", headers=AUTH, data={"bg": "#ff00ff"})
        wait_for_corner(client, (255, 0, 255))
        off = client.post("/api/live/effect", headers=AUTH, json={"on": False})
        assert off.status_code == 200 and off.json()["effect"] is False
        deadline = time.monotonic() + 120  # a hang bound only
        while np.abs(frame_of(client)[:16, -16:].astype(int) - (255, 0, 255)).mean() < 60:
            assert time.monotonic() < deadline, "the effect never went off"
            time.sleep(0.1)
        status = client.get("/api/live", headers=AUTH).json()
        assert status["frames"] > 0 and status["fps"] > 0 and status["latency_ms"] > 0
    finally:
        stopped = client.post("/api/live/stop", headers=AUTH)
    assert stopped.status_code == 200 and stopped.json()["state"] == "stopped"
    uploads = list(temp_root.glob("rtmatte-panel-*/*"))  # named by the server, in its folder
    assert [p.name for p in uploads] == ["background-2.png"], uploads


def test_no_camera_and_no_virtual_camera_are_said_plainly(client):
    no_vcam = client.post("/api/live/start", headers=AUTH, json={"source": "file", "vcam": True})
    assert no_vcam.status_code == 503, no_vcam.text
    assert "virtual camera" in no_vcam.json()["detail"]
    no_camera = client.post("/api/live/start", headers=AUTH, json={"source": "/dev/video99"})
    assert no_camera.status_code == 422 and "cannot be opened" in no_camera.json()["detail"]
    for source in ("/etc/passwd", "../talk.mp4"):  # a path is never a source
        assert client.post("/api/live/start", headers=AUTH,
                           json={"source": source}).status_code == 422
    assert client.get("/api/live", headers=AUTH).json()["state"] == "failed"
    still_up(client)


def test_a_panel_background_that_cannot_be_used_is_named_as_uploaded(client, media, temp_root):
    answer = client.post("/api/live/background", headers=AUTH, files={
        "bg_file": ("../beach clip.mkv", media["broken"].read_bytes())})
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert "beach clip.mkv" in detail and "../" not in detail, detail
    assert_no_server_path(detail, temp_root)
    assert list(temp_root.glob("rtmatte-panel-*/*.mkv")) == []  # an unusable upload is not kept
