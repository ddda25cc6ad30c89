"""The panel's gallery of backgrounds over HTTP (``/api/backgrounds``), on the real app with no
model loaded: a person's own pictures are kept under names the server makes, within the
upload limit and the count limit, unreadable ones are refused and not kept, and a gallery
choice is what ``GET /api/live`` then reports, so the panel can tick it after a reload."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from rtmatte.samples import make_clip
from rtmatte.server.app import create_app
from rtmatte.server.config import ServerConfig
from rtmatte.server.gallery import MAX_UPLOADS

AUTH = {"Authorization": "Bearer " + "t" * 24}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RTMATTE_HOME", str(tmp_path))
    return tmp_path / "backgrounds"


@pytest.fixture
def client(home: Path) -> TestClient:
    """The app without its lifespan (no model is loaded: nothing here runs one)."""
    app = create_app(ServerConfig(token="t" * 24, max_upload_mb=0.08))
    return TestClient(app, base_url="http://127.0.0.1:7860")


def png(width: int = 64, height: int = 48, colour=(10, 200, 30)) -> bytes:
    ok, data = cv2.imencode(".png", np.full((height, width, 3), colour, np.uint8))
    assert ok
    return data.tobytes()


def own_files(home: Path) -> list[str]:
    folder = home / "own"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_own_backgrounds_are_kept_under_names_the_server_makes(client, home):
    listed = client.get("/api/backgrounds", headers=AUTH).json()
    assert [i["id"] for i in listed][:4] == ["blur", "colour", "green", "blue"]
    assert not home.exists()  # listing writes nothing; a scene is painted on first use

    added = client.post("/api/backgrounds", headers=AUTH,
                        files={"file": ("../../../etc/my beach!.png", png())})
    assert added.status_code == 201, added.text
    item = added.json()
    assert item["own"] and item["kind"] == "picture" and item["label"] == "my beach.png"
    (name,) = own_files(home)
    assert name.endswith("~my_beach.png") and "/" not in name
    thumb = client.get(item["thumbnail"], headers=AUTH)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"

    # unreadable: refused in words, and nothing kept
    refused = client.post("/api/backgrounds", headers=AUTH,
                          files={"file": ("notes.txt", b"shopping list")})
    assert refused.status_code == 415
    assert "neither a picture nor a video" in refused.json()["detail"]
    # over the upload limit: 413 while it arrives, nothing kept
    big = client.post("/api/backgrounds", headers=AUTH,
                      files={"file": ("big.bmp", b"BM" + bytes(100_000))})
    assert big.status_code == 413
    assert own_files(home) == [name]
    assert [p.name for p in (home / "own").iterdir() if p.name.startswith(".")] == []

    # a video is kept too, its first picture as its thumbnail
    clip = make_clip(home.parent / "waves.mp4", frames=6, size=(160, 120), fps=6, audio=False)
    video = client.post("/api/backgrounds", headers=AUTH,
                        files={"file": ("waves.mp4", clip.read_bytes())})
    assert video.status_code == 201 and video.json()["kind"] == "video", video.text
    assert client.get(video.json()["thumbnail"], headers=AUTH).status_code == 200
    assert client.delete(f"/api/backgrounds/{video.json()['id']}", headers=AUTH).status_code \
        == 204

    # what comes with rtmatte stays; ids are looked up, never used as paths
    assert client.delete("/api/backgrounds/sunset", headers=AUTH).status_code == 404
    assert client.get("/api/backgrounds/..%2F..%2Fetc/thumbnail.jpg",
                      headers=AUTH).status_code == 404
    assert client.delete(f"/api/backgrounds/{item['id']}", headers=AUTH).status_code == 204
    assert own_files(home) == []


def test_one_more_than_the_limit_is_refused_with_what_to_do(client, home):
    (home / "own").mkdir(parents=True)
    for index in range(MAX_UPLOADS):
        (home / "own" / f"{index:012x}~wall{index}.png").write_bytes(png(8, 8))
    refused = client.post("/api/backgrounds", headers=AUTH, files={"file": ("one.png", png())})
    assert refused.status_code == 429 and "remove one" in refused.json()["detail"]
    assert len(own_files(home)) == MAX_UPLOADS


def test_a_gallery_choice_is_the_state_reported(client, home):
    chosen = client.post("/api/live/background", headers=AUTH, data={"gallery": "sunset"})
    assert chosen.status_code == 200, chosen.text
    state = client.get("/api/live", headers=AUTH).json()
    assert state["choice"] == "sunset" and state["background"] == "Sunset over the sea"
    assert str(home) not in str(state)  # the server's paths stay on the server
    assert (home / "scenes").is_dir()

    blur = client.post("/api/live/background", headers=AUTH, data={"bg": "blur:2.5"}).json()
    assert (blur["choice"], blur["blur"]) == ("blur", 2.5)
    colour = client.post("/api/live/background", headers=AUTH, data={"bg": "#FF00FF"}).json()
    assert (colour["choice"], colour["colour"]) == ("colour", "#ff00ff")
    assert client.post("/api/live/background", headers=AUTH,
                       data={"gallery": "nothing-such"}).status_code == 404
    assert client.post("/api/live/background", headers=AUTH,
                       data={"gallery": "blur"}).status_code == 422
    # the effect set at rest holds, and is what is reported
    off = client.post("/api/live/effect", headers=AUTH, json={"on": False})
    assert off.status_code == 200 and off.json()["effect"] is False
    assert client.get("/api/live", headers=AUTH).json()["effect"] is False
