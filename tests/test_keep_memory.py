"""``--keep`` on drawn scenes with exactly known people (no model): README's promise that "if the
kept person leaves the frame, nobody is shown until they come back (recognised within
``--keep-memory`` frames); after that the rule chooses again", to the frame, and each rule's
choice (largest, center, a point)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rtmatte.errors import SettingsError
from rtmatte.post import PostSettings, build_post
from rtmatte.post.keep import KeepPerson, KeepRule, parse_keep
from rtmatte.types import Matte

WIDTH, HEIGHT = 256, 144
ORANGE, BLUE, GREEN = (235, 120, 30), (40, 90, 225), (40, 190, 70)


class Scene:
    """People as soft ellipses of one colour (with a little texture) on a grey wall; the matte
    is exactly their union, as a perfect model would give it."""

    def __init__(self, scale: int = 1) -> None:
        self.scale = scale
        self.rng = np.random.default_rng(5)

    def draw(self, people: list[tuple[tuple[int, int, int], tuple[int, int], tuple[int, int]]]
             ) -> tuple[np.ndarray, Matte, list[np.ndarray]]:
        s = self.scale
        rgb = np.full((HEIGHT * s, WIDTH * s, 3), 128, np.float32)
        alpha = np.zeros((HEIGHT * s, WIDTH * s), np.float32)
        masks = []
        for colour, (cx, cy), (ax, ay) in people:
            shape = np.zeros_like(alpha)
            cv2.ellipse(shape, (cx * s, cy * s), (ax * s, ay * s), 0, 0, 360, 1.0, -1)
            soft = cv2.GaussianBlur(shape, (0, 0), 1.0 * s)
            rgb = rgb * (1 - soft[..., None]) + np.array(colour, np.float32) * soft[..., None]
            alpha = np.maximum(alpha, soft)
            masks.append(cv2.erode(shape, np.ones((5, 5), np.uint8)) > 0)
        rgb += self.rng.normal(0, 3, rgb.shape)
        picture = np.clip(rgb, 0, 255).astype(np.uint8)
        return picture, Matte(alpha=alpha, fgr=picture), masks


BIG = (ORANGE, (80, 78), (30, 56))  # the largest: kept by --keep largest
SMALL = (BLUE, (190, 84), (20, 44))


def _shown(keep: KeepPerson, scene: Scene, people: list) -> list[float]:
    """Mean output alpha inside each drawn person (2 px in from their edge)."""
    rgb, matte, masks = scene.draw(people)
    result = keep(rgb, matte)
    out = result.alpha
    assert out.shape == matte.alpha.shape and out.dtype == np.float32
    assert np.isfinite(out).all() and result.fgr is matte.fgr  # the colours pass through
    return [float(out[mask].mean()) for mask in masks]


def test_nobody_is_shown_while_the_kept_person_is_away_then_the_rule_chooses_again() -> None:
    memory = 6
    keep = build_post(PostSettings(keep="largest", keep_memory=memory, temporal=False))
    scene = Scene()
    for _ in range(3):
        big, small = _shown(keep, scene, [BIG, SMALL])
        assert big > 0.97 and small < 0.01
    for gone in range(1, memory + 1):  # away for keep-memory frames: still waited for
        (small,) = _shown(keep, scene, [SMALL])
        assert small < 0.01, gone
    (small,) = _shown(keep, scene, [SMALL])  # one frame past the memory: forgotten
    assert small > 0.97
    # the rule chose the small person; the big one coming back is someone new now
    for _ in range(3):
        big, small = _shown(keep, scene, [BIG, SMALL])
        assert big < 0.01 and small > 0.97


@pytest.mark.parametrize("away", [1, 5, 12])
def test_the_kept_person_is_recognised_when_back_within_memory(away: int) -> None:
    keep = KeepPerson(parse_keep("largest"), memory=12)
    scene = Scene()
    for _ in range(3):
        _shown(keep, scene, [BIG, SMALL])
    for _ in range(away):
        (small,) = _shown(keep, scene, [SMALL])
        assert small < 0.01
    # back a little to the side, and smaller than the other for a moment: still them
    returning = (ORANGE, (70, 80), (16, 40))
    for _ in range(3):
        big, small = _shown(keep, scene, [returning, SMALL])
        assert big > 0.97 and small < 0.01


def test_once_everyone_is_forgotten_nothing_shows_not_even_a_blotch() -> None:
    """The kept person is gone past the memory and nobody else is in view: a stray blotch (too
    small to be a person) is background too, as the choice was made and nobody holds it."""
    keep = KeepPerson(parse_keep("largest"), memory=2)
    scene = Scene()
    _shown(keep, scene, [BIG])
    blotch = (ORANGE, (200, 40), (3, 3))
    for _ in range(5):
        rgb, matte, _ = scene.draw([blotch])
        result = keep(rgb, matte)
        assert result.alpha.shape == matte.alpha.shape and result.fgr is matte.fgr
        assert matte.alpha.max() > 0.9 and result.alpha.max() == 0.0


def test_the_default_memory_is_150_frames() -> None:
    assert PostSettings().keep_memory == 150
    assert KeepPerson(parse_keep("largest")).tracker.memory == 150
    keep = build_post(PostSettings(keep="center", temporal=False)).steps[0]
    assert isinstance(keep, KeepPerson) and keep.tracker.memory == 150


def test_nothing_is_taken_away_before_anyone_is_seen() -> None:
    keep = KeepPerson(parse_keep("largest"))
    rgb, matte, _ = Scene().draw([])
    assert keep(rgb, matte) is matte
    rgb, matte, _ = Scene().draw([(ORANGE, (128, 72), (3, 3))])  # a blotch, not a person
    assert keep(rgb, matte) is matte


@pytest.mark.parametrize(("near", "far"), [
    ((GREEN, (132, 76), (18, 40)), (BLUE, (220, 80), (18, 40))),  # middle, and to the right
    ((GREEN, (160, 60), (14, 26)), (BLUE, (128, 115), (14, 26))),  # nearer; below the middle
])
def test_center_keeps_the_person_nearest_the_middle(near, far) -> None:
    keep = KeepPerson(parse_keep("centre"))
    scene = Scene()
    for _ in range(3):
        big, kept, other = _shown(keep, scene, [BIG, near, far])
        assert kept > 0.97 and big < 0.01 and other < 0.01


@pytest.mark.parametrize("scale", [1, 2])
def test_a_point_keeps_the_person_under_it_at_any_size(scale: int) -> None:
    """At twice the work size the point is still in pixels of the frame as given."""
    keep = KeepPerson(parse_keep(f"{190 * scale},{84 * scale}"))
    scene = Scene(scale)
    for _ in range(3):
        big, small = _shown(keep, scene, [BIG, SMALL])
        assert small > 0.97 and big < 0.01


def test_a_point_just_beside_a_person_still_picks_them() -> None:
    """Within 2 % of the long side (5 px here) of their edge."""
    keep = KeepPerson(parse_keep("214,84"))  # 4 px right of the small person's edge (x = 210)
    big, small = _shown(keep, Scene(), [BIG, SMALL])
    assert small > 0.97 and big < 0.01


def test_a_point_exactly_at_the_slack_still_picks() -> None:
    """250x140: the slack is 2 % of 250, exactly 5 px. A point 5 px right of the person's
    rightmost body pixel on its row picks them; 6 px is nobody."""
    rgb, matte, _ = Scene().draw([(ORANGE, (100, 70), (30, 50))])
    rgb = np.ascontiguousarray(rgb[:140, :250])
    matte = Matte(alpha=np.ascontiguousarray(matte.alpha[:140, :250]), fgr=rgb)
    probe = KeepPerson(parse_keep("center"))
    probe(rgb, matte)
    right = int(np.flatnonzero(probe.tracker.people[probe.kept].mask[70]).max())
    KeepPerson(parse_keep(f"{right + 5},70"))(rgb, matte)
    with pytest.raises(SettingsError, match="nobody is at that point"):
        KeepPerson(parse_keep(f"{right + 6},70"))(rgb, matte)


def test_a_point_on_the_frames_first_row_or_column_is_inside_it() -> None:
    corner = (BLUE, (20, 20), (30, 30))  # reaches past the top left corner
    for point in ("0,0", "0,30", "30,0"):
        _, kept = _shown(KeepPerson(parse_keep(point)), Scene(), [BIG, corner])
        assert kept > 0.97, point


def test_a_point_in_a_clip_where_nobody_ever_appears_is_refused_at_the_end() -> None:
    """Nobody in any frame: nothing is taken away while it runs (there is nobody to choose),
    and at the end the point is refused like a point beside everyone."""
    keep = KeepPerson(parse_keep("30,40"))
    rgb, matte, _ = Scene().draw([])
    assert keep(rgb, matte) is matte
    with pytest.raises(SettingsError) as refused:
        keep.finish()
    assert str(refused.value) == ("--keep 30,40: nobody is at that point: no person appears "
                                  "anywhere in the clip; leave --keep out to keep the whole matte")
    seen = KeepPerson(parse_keep("80,78"))
    _shown(seen, Scene(), [BIG])
    seen.finish()  # someone was there: nothing to say
    for rule in ("largest", "center"):  # a rule, not a point: an empty clip is no error
        empty = KeepPerson(parse_keep(rule))
        empty(rgb, matte)
        empty.finish()


def test_the_nearest_person_is_named_in_pixels_of_the_frame_as_given() -> None:
    with pytest.raises(SettingsError, match=r"nearest person is around 3[78]\d,16\d\)"):
        _shown(KeepPerson(parse_keep("500,10")), Scene(2), [BIG, SMALL])


def test_a_point_survives_the_frame_getting_smaller() -> None:
    """A camera that switches to a smaller size mid-run: the point, now past the frame's edge,
    still picks whoever is nearest it (no error: the choice was made on the first frame)."""
    keep = KeepPerson(parse_keep("500,280"), memory=1)
    corner = (BLUE, (236, 124), (30, 30))  # reaches past the bottom right corner
    _shown(keep, Scene(2), [BIG, corner])
    for _ in range(4):  # 200x112 now: smaller than the work size, so the people start anew
        rgb, matte, _ = Scene(1).draw([corner])
        small = (200, 112)
        rgb, alpha = cv2.resize(rgb, small), cv2.resize(matte.alpha, small)
        out = keep(rgb, Matte(alpha=alpha, fgr=rgb)).alpha
        assert out.shape == (112, 200)
        assert out[alpha > 0.99].mean() > 0.97


def test_a_point_where_nobody_is_names_the_nearest_person() -> None:
    nobody = r"--keep 250,5: nobody is at that point of the first frame \(the nearest person "
    with pytest.raises(SettingsError, match=nobody + r"is around 19\d,8\d\)"):
        _shown(KeepPerson(parse_keep("250,5")), Scene(), [BIG, SMALL])
    with pytest.raises(SettingsError, match=r"--keep 256,10 is outside the 256x144 frame"):
        _shown(KeepPerson(parse_keep("256,10")), Scene(), [BIG, SMALL])
    with pytest.raises(SettingsError, match=r"outside the 256x144 frame"):
        _shown(KeepPerson(parse_keep("10,144")), Scene(), [BIG, SMALL])
    _shown(KeepPerson(parse_keep("255,143")), Scene(), [BIG, (BLUE, (240, 130), (30, 30))])


def test_after_the_memory_a_point_picks_whoever_is_nearest_it() -> None:
    """The point's person is chosen on the first frame; when they are forgotten the nearest
    person to the point is kept, however far (nobody there is no error then)."""
    keep = KeepPerson(parse_keep("190,84"), memory=2)
    scene = Scene()
    _shown(keep, scene, [BIG, SMALL])
    for _ in range(3):
        (big,) = _shown(keep, scene, [BIG])
    assert big > 0.97


def _ramp(line: np.ndarray) -> int:
    return int(((line > 0.05) & (line < 0.95)).sum())


def test_the_seam_with_someone_else_is_soft_and_the_edge_the_models() -> None:
    """Two people touching side by side: the kept one's share ramps over a few pixels where
    they meet; at their outer edge the output is the matte's own soft alpha."""
    keep = KeepPerson(parse_keep("largest"))
    touching = (BLUE, (128, 78), (20, 44))  # overlaps the big person's right side
    rgb, matte, _ = Scene().draw([BIG, touching])
    out = keep(rgb, matte).alpha
    assert np.allclose(out[78, 45:100], matte.alpha[78, 45:100], atol=1e-3)
    assert out[78, 140] < 0.01
    assert 3 <= _ramp(out[78, 100:125]) <= 12  # across the seam, where both are solid (4)
    assert _ramp(matte.alpha[78, 100:125]) <= 1
    left_edge = np.flatnonzero((matte.alpha[78] > 0.05) & (matte.alpha[78] < 0.95))
    assert np.allclose(out[78, left_edge[:3]], matte.alpha[78, left_edge[:3]], atol=1e-3)


def test_the_seam_is_measured_at_the_work_size() -> None:
    """At twice the work size the ramp is twice as wide in the frame's pixels: the seam is a
    property of the people, not of the camera's resolution."""
    keep = KeepPerson(parse_keep("largest"))
    touching = (BLUE, (128, 78), (20, 44))
    rgb, matte, _ = Scene(2).draw([BIG, touching])
    out = keep(rgb, matte).alpha
    assert 6 <= _ramp(out[156, 200:250]) <= 24  # measured 9


def test_a_fine_veil_is_averaged_not_sampled() -> None:
    """A net curtain of 1-px stripes (0, 0.9, 0.9, 0 alpha) in a frame four times the work
    size averages to 0.45 alpha at work size: not a body, so nobody is seen and nothing is
    taken away (sampling instead of averaging would see 0.9, a person)."""
    height, width = HEIGHT * 4, WIDTH * 4
    alpha = np.zeros((height, width), np.float32)
    stripes = np.tile(np.array([0, 0.9, 0.9, 0], np.float32), width // 4)
    alpha[100:500, 200:800] = stripes[200:800]
    rgb = np.full((height, width, 3), 128, np.uint8)
    matte = Matte(alpha=alpha, fgr=rgb)
    assert KeepPerson(parse_keep("largest"))(rgb, matte) is matte


def test_the_seam_is_soft_across_a_row_too() -> None:
    """One person above the other: the seam runs across, and ramps down the column."""
    keep = KeepPerson(parse_keep("largest"))
    top, below = (ORANGE, (90, 46), (40, 34)), (BLUE, (90, 108), (22, 30))
    rgb, matte, _ = Scene().draw([top, below])
    out = keep(rgb, matte).alpha
    assert out[30, 90] > 0.97 and out[115, 90] < 0.01
    assert 3 <= _ramp(out[65:95, 90]) <= 12  # measured 4
    assert _ramp(matte.alpha[65:95, 90]) <= 1


def test_keep_rules_parse() -> None:
    assert parse_keep(" Largest ") == KeepRule("largest")
    assert parse_keep("centre") == KeepRule("center")
    assert parse_keep("12, 34") == KeepRule("point", (12, 34))
    assert parse_keep("all").everyone and not parse_keep("center").everyone
    for bad in ("left", "1,2,3", "-4,5", "x,y", ""):
        with pytest.raises(SettingsError, match="keep must be all, largest, center or X,Y"):
            parse_keep(bad)


def test_a_reset_forgets_the_choice() -> None:
    keep = KeepPerson(parse_keep("largest"))
    scene = Scene()
    _shown(keep, scene, [BIG, SMALL])
    keep.reset()
    assert keep.kept is None
    big, small = _shown(keep, scene, [BIG, SMALL])
    assert big > 0.97 and small < 0.01


def test_the_kept_person_stays_kept_when_the_frame_size_changes() -> None:
    """A camera that switches size mid-run restarts the tracker's people at the new work size;
    the kept person is found again where they stood, not chosen anew by the rule (which here
    would pick the bigger newcomer)."""
    kept = (ORANGE, (70, 78), (22, 48))
    bigger = (BLUE, (190, 78), (32, 60))
    keep = KeepPerson(parse_keep("largest"))
    for _ in range(3):  # alone: the largest, so kept
        assert _shown(keep, Scene(2), [kept])[0] > 0.97
    for _ in range(3):  # someone bigger walks in: the choice follows the kept person
        mine, theirs = _shown(keep, Scene(2), [kept, bigger])
        assert mine > 0.97 and theirs < 0.02
    for _ in range(3):  # 200x112 now, smaller than the work size: the people start anew
        rgb, matte, masks = Scene(1).draw([kept, bigger])
        small = (200, 112)
        rgb, alpha = cv2.resize(rgb, small), cv2.resize(matte.alpha, small)
        out = keep(rgb, Matte(alpha=alpha, fgr=rgb)).alpha
        mine, theirs = (cv2.resize(m.astype(np.uint8), small, interpolation=cv2.INTER_NEAREST)
                        > 0 for m in masks)
        assert out[mine].mean() > 0.97 and out[theirs].mean() < 0.02
