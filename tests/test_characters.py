"""Identity descriptors (dlib's model on real faces) and characters from them: the demo's
two real portraits, in several shots (size, light, tilt) over two episodes, come out as two characters;
what cannot be described, or belongs to nobody, stays unknown."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import identity_model

from dramaemo.core.errors import UserError
from dramaemo.dataset.demo import load_characters
from dramaemo.faces import identity, identity_network
from dramaemo.footage import SEGMENT_COLUMNS, UNKNOWN_CHARACTER
from dramaemo.footage import search as search_module
from dramaemo.footage.cast import read_names
from dramaemo.footage.characters import CUSTOMARY_THRESHOLD, UNKNOWN, cannot_link, cluster_tracks, continuing
from dramaemo.footage.search import character_query
from dramaemo.footage.segments import with_characters


@pytest.fixture(scope="module")
def model():
    return identity.IdentityModel(identity_model())


def test_a_changed_model_file_is_refused_naming_it(tmp_path):
    folder = identity_model()
    for name in identity.MODEL_FILES:
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    victim = tmp_path / "shape_predictor_5_face_landmarks.dat"
    victim.write_bytes(victim.read_bytes()[:-1] + b"\0")
    with pytest.raises(
        UserError, match="shape_predictor_5_face_landmarks.dat: not the face_recognition_models"
    ):
        identity.check_model(tmp_path)
    victim.unlink()
    with pytest.raises(UserError, match="shape_predictor_5_face_landmarks.dat: missing"):
        identity.check_model(tmp_path)
    victim.write_bytes((folder / victim.name).read_bytes())
    with pytest.raises(UserError, match=f"{identity.LITE_NETWORK_FILE}: missing; .*fetch-identity"):
        identity.check_model(tmp_path)
    # the files are there: fetching builds the LiteRT network from them, downloading nothing
    assert identity.fetch_model(tmp_path) == tmp_path
    assert (tmp_path / identity.LITE_NETWORK_FILE).stat().st_size > 1_000_000
    (tmp_path / identity.LITE_NETWORK_FILE).write_bytes(b"not a model")
    with pytest.raises(UserError, match=f"{identity.LITE_NETWORK_FILE}: not a LiteRT model"):
        identity.IdentityModel(tmp_path)


def test_the_networks_give_dlibs_own_descriptors(model):
    """The port of dlib's ResNet (faces.identity_network) to TensorFlow, and the LiteRT model
    built from it that describe_tracks runs, against dlib's forward pass on the same aligned
    chips: the demo's portraits, varied in size, light and tilt."""
    import dlib

    network = dlib.face_recognition_model_v1(str(identity_model() / identity.NETWORK_FILE))
    chips = []
    for character in load_characters():
        for number in range(3):
            image, box = varied(character.card, character.face, number)
            found, refused = model.aligner.align(image, [box])
            assert refused == [""]
            chips.append(found[0])
    chips = np.stack(chips)
    theirs = np.array([network.compute_face_descriptor(chip) for chip in chips])
    tensorflow = identity_network.DescriptorNetwork(identity_model() / identity.NETWORK_FILE, batch_size=4)
    ours = model.network(chips)
    for found in (ours, tensorflow(chips)):
        assert found.shape == theirs.shape == (6, identity.DESCRIPTOR_SIZE)
        assert np.abs(found - theirs).max() < 1e-5
    # a chip's descriptor does not depend on the batch it is described in
    alone = np.concatenate([model.network(chip[None]) for chip in chips])
    assert np.abs(alone - ours).max() < 1e-6
    # and the descriptors tell the people apart as dlib's do
    assert np.linalg.norm(ours[0] - ours[3]) > 0.3 > np.linalg.norm(ours[0] - ours[1])


def test_a_damaged_network_file_is_refused_naming_it(tmp_path):
    damaged = tmp_path / identity.NETWORK_FILE
    damaged.write_bytes((identity_model() / identity.NETWORK_FILE).read_bytes()[:100_000])
    with pytest.raises(UserError, match=f"{identity.NETWORK_FILE}: not dlib's face descriptor network"):
        identity_network.read_network(damaged)


def varied(card: np.ndarray, face, number: int):
    """Another shot of a portrait: its size, light and tilt changed (and the face box with it)."""
    scale, gain, angle = 1.0 + 0.06 * number, 0.75 + 0.08 * number, -6.0 + 2.0 * number
    x, y, w, h = face
    turn = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), angle, 1.0)
    image = cv2.warpAffine(card, turn, (card.shape[1], card.shape[0]), borderMode=cv2.BORDER_REFLECT)
    image = np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    return image, [round(v * scale) for v in face]


def test_the_demo_portraits_are_two_characters_over_two_episodes(model):
    tracks, descriptors = [], []
    for episode in ("demo01", "demo02"):
        for character in load_characters():
            for number in range(7):
                image, box = varied(character.card, character.face, number + (episode == "demo02"))
                vectors, refused = model.describe(image, [box])
                assert refused == [""], (character.name, number, refused)
                descriptors.append(vectors[0])
                # the two portraits share the screen in like shots
                tracks.append({"episode": episode, "name": character.name, "seconds": [number, number + 10]})
    tracks = pd.DataFrame(tracks)
    pairs = cannot_link(tracks)
    assert len(pairs) == 14 and all(tracks.loc[a, "name"] != tracks.loc[b, "name"] for a, b in pairs)
    labels, record = cluster_tracks(np.stack(descriptors), pairs)
    assert record["characters"] == 2 and record["threshold_from"].startswith("percentile")
    by_name = tracks.assign(character=labels).groupby("name")["character"].agg(set)
    assert all(len(found) == 1 and UNKNOWN not in found for found in by_name)  # one each, both episodes
    assert by_name["Grace"] != by_name["Eileen"]


def test_a_face_too_small_or_turned_away_is_not_described(model, monkeypatch):
    grace = load_characters()[0]
    small = cv2.resize(grace.card, None, fx=0.2, fy=0.2)
    box = [round(v * 0.2) for v in grace.face]  # 44 px
    vectors, refused = model.describe(small, [box])
    assert refused == [identity.REFUSED_SMALL] and np.isnan(vectors).all()
    # turned away: the nose off the eyes' midline by more than MAX_YAW_RATIO of their
    # distance (a frontal portrait measures 0.04: the limit lowered below it here)
    assert identity.yaw_ratio(FivePoints([(0, 0), (10, 0), (30, 0), (40, 0), (11, 15)])) == pytest.approx(0.3)
    _, refused = model.describe(grace.card, [grace.face])
    assert refused == [""]
    monkeypatch.setattr(identity, "MAX_YAW_RATIO", 0.01)
    vectors, refused = model.describe(grace.card, [grace.face])
    assert refused == [identity.REFUSED_PROFILE] and np.isnan(vectors).all()


class FivePoints:
    """dlib's full_object_detection interface over given points."""

    def __init__(self, points):
        self.points = points

    def part(self, i):
        x, y = self.points[i]
        return type("Point", (), {"x": x, "y": y})()


def test_one_off_faces_and_undescribed_ones_stay_unknown_and_the_threshold_is_recorded():
    rng = np.random.default_rng(0)
    axes = np.eye(identity.DESCRIPTOR_SIZE)
    # persons 0 and 1 0.8 apart (and on screen together), person 2 1.36 from both
    centres = np.stack([0.4 * axes[0], -0.4 * axes[0], 1.3 * axes[1]])
    people = np.repeat(np.arange(3), 12)
    vectors = centres[people] + rng.normal(scale=0.02, size=(len(people), identity.DESCRIPTOR_SIZE))
    one_off = -1.3 * axes[1]  # 1.36 from persons 0 and 1, seen once
    vectors = np.vstack([vectors, one_off, np.full(identity.DESCRIPTOR_SIZE, np.nan)])
    # person 0 and 1 on screen together twelve times
    pairs = {(i, 12 + i) for i in range(12)}
    labels, record = cluster_tracks(vectors, pairs)
    assert record["characters"] == 3 and record["described"] == len(vectors) - 1
    assert labels[-1] == UNKNOWN and labels[-2] == UNKNOWN
    assert [len(set(labels[:-2][people == p])) for p in range(3)] == [1, 1, 1]
    assert len(set(labels[:-2])) == 3
    # without enough pairs on screen together: the customary threshold, said so
    _, record = cluster_tracks(vectors, set(list(pairs)[:3]))
    assert record["threshold"] == CUSTOMARY_THRESHOLD and "only 3 pairs" in record["threshold_from"]
    # blurred small faces crowd together: pairs of them (and of undescribed tracks) do not
    # set the distance when there are enough pairs of sharp ones
    blurred = np.vstack([vectors, 1.3 * axes[2] + 0.05 * axes[3], 1.3 * axes[2] - 0.05 * axes[3]])
    sharp = np.r_[np.ones(len(vectors), dtype=bool), False, False]
    crowded = pairs | {(len(vectors), len(vectors) + 1), (len(vectors) - 1, 0)}
    _, fooled = cluster_tracks(blurred, crowded)
    labels, record = cluster_tracks(blurred, crowded, sharp=sharp)
    assert fooled["threshold"] < 0.5 < record["threshold"], (fooled, record)
    assert "pairs of sharp tracks" in record["threshold_from"] and record["characters"] == 3


def test_beyond_the_linkage_bound_trees_of_the_largest_faces_then_of_the_rest(monkeypatch):
    """A season of tracks: each average-linkage tree (memory quadratic in its tracks) holds
    at most LINKAGE_TRACKS tracks, the largest faces first, then the tracks no group so far
    explains (a person seen only in small faces); every track still joins its person."""
    from dramaemo.footage import characters

    rng = np.random.default_rng(2)
    axes = np.eye(identity.DESCRIPTOR_SIZE)
    centres = np.stack([0.4 * axes[0], -0.4 * axes[0], 1.3 * axes[1], -1.3 * axes[1]])
    people = np.r_[np.tile(np.arange(3), 20), np.full(6, 3)]  # person 3: small faces only
    sides = np.r_[np.where(np.arange(60) < 30, 80, 150), np.full(6, 80)]
    vectors = centres[people] + rng.normal(scale=0.02, size=(len(people), identity.DESCRIPTOR_SIZE))
    pairs = {(i, i + 1) for i in range(0, 60, 3)} | {(i + 1, i + 2) for i in range(0, 60, 3)}
    whole, _ = cluster_tracks(vectors, pairs, sides=sides)
    monkeypatch.setattr(characters, "LINKAGE_TRACKS", 30)
    labels, record = cluster_tracks(vectors, pairs, sides=sides)
    assert record["seed_rounds"] == "2 trees of at most 30 tracks (of 66)"
    assert [len(set(labels[people == p])) for p in range(4)] == [1, 1, 1, 1] and len(set(labels)) == 4
    assert UNKNOWN not in labels
    assert pd.crosstab(whole, labels).gt(0).sum(axis=1).eq(1).all()  # the whole tree's characters


def test_a_face_cut_in_three_by_false_cuts_is_one_moment_and_seeds_no_character():
    """A one-off face that a shot detector cut into three tracks (the same place in the
    next second, one descriptor) is seen once: no character of its own, unlike a person
    seen at three moments. Tracks continue only at the same place in the next second."""
    ends = pd.DataFrame(
        [
            ("ep1", 0, 2, [10, 10, 50, 50], [12, 10, 50, 50]),
            ("ep1", 3, 3, [14, 11, 50, 50], [14, 11, 50, 50]),  # continues row 0
            ("ep1", 3, 4, [200, 10, 50, 50], [200, 10, 50, 50]),  # elsewhere on screen
            ("ep1", 4, 5, [14, 11, 50, 50], [14, 11, 50, 50]),  # continues row 1, not row 2
            ("ep1", 7, 8, [14, 11, 50, 50], [14, 11, 50, 50]),  # a second later: a gap
            ("ep2", 4, 4, [14, 11, 50, 50], [14, 11, 50, 50]),  # another episode
        ],
        columns=["episode", "first_second", "last_second", "first_box", "last_box"],
    )
    assert continuing(ends) == {(0, 1), (1, 3)}

    rng = np.random.default_rng(3)
    axes = np.eye(identity.DESCRIPTOR_SIZE)
    centres = np.stack([0.4 * axes[0], -0.4 * axes[0], 1.3 * axes[1]])
    people = np.r_[np.repeat([0, 1], 12), 2, 2, 2]  # person 2: three tracks of one moment
    vectors = centres[people] + rng.normal(scale=0.02, size=(len(people), identity.DESCRIPTOR_SIZE))
    pairs = {(i, 12 + i) for i in range(12)}
    labels, record = cluster_tracks(vectors, pairs)
    assert record["characters"] == 3 and len(set(labels[people == 2])) == 1 and UNKNOWN not in labels
    # the cuts continue person 2's face (and pass person 0 on to person 1, whose
    # descriptor lies farther than the separating distance: not one moment)
    labels, record = cluster_tracks(vectors, pairs, continues={(24, 25), (25, 26), (0, 12)})
    assert record["characters"] == 2 and record["moments"] == len(people) - 2
    assert set(labels[people == 2]) == {UNKNOWN}
    assert len(set(labels[people == 0])) == 1 and set(labels[people == 0]).isdisjoint(labels[people == 1])


def test_kept_characters_keep_their_numbers_and_take_a_new_episodes_tracks():
    """Incremental: an earlier cast's characters (the ones named) keep their ids and
    members; a new episode's tracks of them join them; a new person gets the next id."""
    rng = np.random.default_rng(1)
    axes = np.eye(identity.DESCRIPTOR_SIZE)
    centres = np.stack([0.4 * axes[0], -0.4 * axes[0], 1.3 * axes[1], -1.3 * axes[1]])
    people = np.repeat(np.arange(4), 7)  # person 3 appears only in the new episode
    vectors = centres[people] + rng.normal(scale=0.02, size=(len(people), identity.DESCRIPTOR_SIZE))
    old = np.flatnonzero((people < 3) & (np.arange(len(people)) % 7 < 4))  # 4 tracks each before, 3 new
    pairs = {(i, 7 + i) for i in range(7)} | {(i, 14 + i) for i in range(7)}
    # the earlier cast numbered them 5, 2 and 7 (ids C06, C03, C08 after merges and splits)
    fixed = {5: set(old[people[old] == 0]), 2: set(old[people[old] == 1]), 7: set(old[people[old] == 2])}
    split_off = int(np.flatnonzero(people == 2)[0])  # the user split one of person 2's old tracks off
    fixed[7].discard(split_off)
    labels, record = cluster_tracks(vectors, pairs, fixed=fixed, excluded={split_off})
    assert record["kept"] == 3
    assert set(labels[people == 0]) == {5} and set(labels[people == 1]) == {2}
    assert labels[split_off] == UNKNOWN and set(
        np.delete(labels, split_off)[np.delete(people, split_off) == 2]
    ) == {7}
    assert set(labels[people == 3]) == {8}  # new: numbered after the kept ones


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            "character,name\nC01,Geu-rae\nC09,Min-ah\n",
            r"names.csv row 3: unknown character 'C09'; the cast has C01, C02",
        ),
        (
            "character,name\nC01,Geu-rae\nC02,geu-RAE\n",
            r"names.csv row 3: the name 'geu-RAE' is already C01's \(row 2\)",
        ),
        ("character,name\nC01,Geu-rae\nC02,  \n", r"names.csv row 3: empty name for C02"),
        ("character,name\nC01,Geu-rae\nC01,Min-ah\n", r"names.csv row 3: C01 is already named on row 2"),
        ("id,who\nC01,Geu-rae\n", r"names.csv: the header must be character,name"),
    ],
)
def test_a_bad_names_file_names_its_row(tmp_path, rows, message):
    path = tmp_path / "names.csv"
    path.write_text(rows)
    with pytest.raises(UserError, match=message):
        read_names(path, ["C01", "C02"])


def test_names_and_ids_find_characters_in_any_case_and_an_unknown_one_lists_the_cast():
    names = {"C01": "Geu-rae"}
    assert character_query(["geu-rae", "c02"], names, ["C01", "C02"]) == ["C01", "C02"]
    with pytest.raises(UserError, match=r"unknown character 'Min-ah'; known: Geu-rae \(C01\), C02"):
        character_query(["Min-ah"], names, ["C01", "C02"])
    with pytest.raises(UserError, match="--character needs the cast"):
        character_query(["Geu-rae"], names, None)


def test_segments_carry_their_character_and_everyone_on_screen_and_search_asks_for_both():
    # two tracks on screen together for seconds 0-3, then track 1 alone
    faces = pd.DataFrame(
        {"track": [0, 1] * 4 + [1, 1], "second": [0, 0, 1, 1, 2, 2, 3, 3, 4, 5]},
    )
    table = pd.DataFrame({"track": [0, 1, 1], "start": [0, 0, 4], "end": [4, 4, 6]})
    out = with_characters(table, faces, {0: "C01", 1: "C02"})
    assert out["character"].tolist() == ["C01", "C02", "C02"]
    assert out["characters"].tolist() == ["C01,C02", "C01,C02", "C02"]
    unnamed = with_characters(table, faces, {0: UNKNOWN_CHARACTER, 1: "C02"})
    assert unnamed["characters"].tolist() == ["C02", "C02", "C02"]
    segments = out.assign(
        emotion="Happy", seconds=out["end"] - out["start"], mean_confidence=[0.9, 0.8, 0.7], episode="ep"
    ).reindex(columns=SEGMENT_COLUMNS, fill_value=1)
    query = {
        "emotions": ["Happy"],
        "min_seconds": 0,
        "min_confidence": 0,
        "min_faces": None,
        "max_faces": None,
        "episodes": [],
        "limit": None,
    }
    alone = search_module.search(segments, **query, characters=["C02"], character_names={"C02": "Min-ah"})
    together = search_module.search(segments, **query, characters=["C02", "C01"], character_names={})
    assert alone[["track", "start", "name"]].values.tolist() == [[1, 0, "Min-ah"], [1, 4, "Min-ah"]]
    # either one's face, the other beside it; never C02 alone
    assert together[["track", "start", "name"]].values.tolist() == [[0, 0, ""], [1, 0, ""]]
