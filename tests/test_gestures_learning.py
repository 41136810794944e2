"""Learning by demonstration: cross-validated accuracy on real landmark files through the
``gestures evaluate`` command, the k-NN and DTW learners, and model / example files (saving,
loading, and clear errors for corrupt ones)."""

from __future__ import annotations

import argparse
import json
import zipfile

import numpy as np
import pytest

from installation.gestures import GestureFileError, GesturesConfig, cli
from installation.gestures.continuous import ContinuousMapping
from installation.gestures.dtw import StreamingMatcher, dtw_distance, resample
from installation.gestures.errors import GestureError
from installation.gestures.knn import KnnClassifier
from installation.gestures.model import Example, ExampleKind, Template, TrainedGestures
from installation.gestures.normalise import hand_descriptors
from installation.gestures.store import MODEL_FORMAT, GestureStore, load_example, load_model, save_model
from installation.gestures.training import train


def gestures_command(capsys, *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="main.py")
    cli.add_parser(parser.add_subparsers(dest="command"))
    status = cli.run(parser.parse_args(["gestures", *argv]))
    out, err = capsys.readouterr()
    return status, out, err


# --- cross-validation on the real files -----------------------------------------------------


def test_keypoint_csv_five_fold_accuracy_is_at_least_98_percent(media, capsys):
    status, out, _ = gestures_command(capsys, "evaluate", str(media / "gestures" / "keypoint.csv"), "--json")
    assert status == 0
    result = json.loads(out)
    confusion = np.array(result["confusion"])
    print(f"keypoint.csv accuracy {result['accuracy']:.4f}\n{confusion}")
    assert result["classes"] == ["Open", "Close", "Pointer", "OK"]
    assert result["folds"] == 5 and confusion.sum() == result["samples"] == 4787
    assert result["accuracy"] >= 0.98
    assert min(result["recall"].values()) >= 0.95  # no class is sacrificed to the big ones


def test_point_history_csv_trajectory_accuracy_is_at_least_90_percent(media, capsys):
    status, out, _ = gestures_command(capsys, "evaluate", str(media / "gestures" / "point_history.csv"), "--json")
    assert status == 0
    result = json.loads(out)
    print(f"point_history.csv accuracy {result['accuracy']:.4f}\n{np.array(result['confusion'])}")
    assert result["kind"] == "trajectory"
    assert result["classes"] == ["Stop", "Clockwise", "Counter Clockwise", "Move"]
    assert result["accuracy"] >= 0.90


def test_evaluate_prints_the_accuracy_and_the_confusion_matrix(tmp_path, media, capsys):
    rows = np.loadtxt(media / "gestures" / "keypoint.csv", delimiter=",")[::10]  # a quick subset
    small = tmp_path / "keypoint.csv"
    np.savetxt(small, rows, delimiter=",", fmt="%.6g")
    (tmp_path / "keypoint_classifier_label.csv").write_text("Open\nClose\nPointer\nOK\n")
    status, out, _ = gestures_command(capsys, "evaluate", str(small))
    assert status == 0
    assert "accuracy" in out and "confusion matrix (rows: true class, columns: predicted)" in out
    header = next(line for line in out.splitlines() if "recall" in line and "Open" in line)
    assert header.split()[:4] == ["Open", "Close", "Pointer", "OK"]
    assert sum(line.startswith(("Open", "Close", "Pointer", "OK")) for line in out.splitlines()) == 4


def test_evaluate_reports_a_bad_file_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("0,0.1,0.2,0.3,0.4\n1,0.1,oops,0.3,0.4\n")
    status, _, err = gestures_command(capsys, "evaluate", str(bad))
    assert status == 2 and err.startswith("error:") and "line 2" in err and len(err.strip().splitlines()) == 1


# --- the learners -------------------------------------------------------------------------


def test_knn_keeps_taught_hands_and_rejects_most_untaught_ones(media):
    rows = np.loadtxt(media / "gestures" / "keypoint.csv", delimiter=",")
    descriptors, labels = hand_descriptors(rows[:, 1:].reshape(-1, 21, 2)), rows[:, 0].astype(int)
    taught = np.flatnonzero(labels < 2)  # Open and Close
    train_rows, held_out = taught[::2][::5], taught[1::2]
    names_of = np.where(labels == 0, "open", "close")
    classifier = KnnClassifier.fit(descriptors[train_rows], list(names_of[train_rows]), 5)
    names, confidence = classifier.predict_batch(descriptors[held_out])
    accepted = confidence >= GesturesConfig().on_threshold
    assert accepted.mean() >= 0.9
    predicted = np.array(classifier.classes)[names[accepted]]
    assert (predicted == names_of[held_out][accepted]).mean() >= 0.99
    _, pointer_confidence = classifier.predict_batch(descriptors[labels == 2])
    assert (pointer_confidence < GesturesConfig().on_threshold).mean() >= 0.7  # never taught


def test_dtw_matches_a_sequence_at_another_tempo_better_than_another_sequence():
    t = np.linspace(0.0, 1.0, 40)
    figure_eight = np.stack([np.sin(2 * np.pi * t), np.sin(4 * np.pi * t)], axis=1)
    circle = np.stack([np.cos(2 * np.pi * t), np.sin(2 * np.pi * t)], axis=1)
    for tempo in (0.7, 1.3):  # resampling moves the samples along the curve: half a step apart at most
        assert dtw_distance(resample(figure_eight, int(40 * tempo)), figure_eight) < 0.1
    assert dtw_distance(circle, figure_eight) > 0.3


def test_streaming_matcher_finds_the_template_inside_a_longer_stream():
    t = np.linspace(0.0, 1.0, 80)[:, None]
    template = np.hstack([np.sin(2 * np.pi * t), np.cos(3 * np.pi * t), t])  # (80, 3), a smooth path
    other = template[::-1] * np.array([1.0, -1.0, 1.0])  # another movement through the same region
    slower = resample(template, 104)  # 30% slower
    stream = np.concatenate([other, slower, np.tile(template[-1], (20, 1))])
    matcher = StreamingMatcher(template)
    distances = np.array([matcher.step(x) for x in stream])
    assert int(np.argmin(distances)) in range(len(other) + len(slower) - 3, len(other) + len(slower) + 3)
    assert distances.min() < 0.05 < 0.3 < distances[: len(other)].min()


# --- files --------------------------------------------------------------------------------


def small_model() -> TrainedGestures:
    rng = np.random.default_rng(1)
    static = KnnClassifier.fit(rng.normal(size=(12, 230)), ["a"] * 6 + ["b"] * 6, 3)
    mapping = ContinuousMapping.fit(rng.normal(size=(4, 3)), rng.normal(size=(4, 2)), ["x", "y", "z"],
                                    ["hue", "zoom"])
    return TrainedGestures(static, [Template("wave_hello", rng.normal(size=(20, 8)), 0.2)], {"bloom": mapping}, 0.0)


def test_a_model_saves_and_loads_without_pickle(tmp_path):
    path = tmp_path / "model.npz"
    model = small_model()
    save_model(path, model)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.static.examples, model.static.examples.astype(np.float32))
    assert loaded.static.classes == ["a", "b"] and loaded.static.reject_distance == model.static.reject_distance
    assert loaded.templates[0].name == "wave_hello" and loaded.templates[0].threshold == 0.2
    x = np.array([0.1, -0.2, 0.3])
    np.testing.assert_allclose(loaded.mappings["bloom"].predict(x), model.mappings["bloom"].predict(x))
    with zipfile.ZipFile(path) as archive:  # plain arrays and a JSON text, nothing pickled
        assert all(name.endswith(".npy") for name in archive.namelist())


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda path: path.write_bytes(path.read_bytes()[:200]), "not a readable gesture file"),
        (lambda path: path.write_bytes(b"hello, not a zip"), "not a readable gesture file"),
        (lambda path: np.savez(path, meta=np.array(json.dumps({"format": MODEL_FORMAT, "version": 99}))),
         "format version 99"),
        (lambda path: np.savez(path, meta=np.array("{not json")), "not valid JSON"),
        (lambda path: np.savez(path, data=np.zeros(3)), "no 'meta' entry"),
        (lambda path: np.savez(path, meta=np.array([{"format": "x"}], dtype=object)), "not a readable gesture file"),
    ],
    ids=["truncated", "not-a-zip", "newer-version", "bad-json", "no-meta", "pickled-object"],
)
def test_a_corrupt_model_is_a_clear_error_naming_the_file(tmp_path, damage, message):
    path = tmp_path / "model.npz"
    save_model(path, small_model())
    damage(path)
    with pytest.raises(GestureFileError, match=message) as raised:
        load_model(path)
    assert str(path) in str(raised.value)


def test_a_model_with_an_inconsistent_array_is_refused(tmp_path):
    path = tmp_path / "model.npz"
    save_model(path, small_model())
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["static_labels"] = arrays["static_labels"][:3]
    np.savez(path, **arrays)
    with pytest.raises(GestureFileError, match="do not match"):
        load_model(path)


def test_examples_round_trip_and_train(tmp_path):
    store = GestureStore(tmp_path)
    rng = np.random.default_rng(2)
    hands = rng.normal(size=(5, 21, 3))
    path = store.add(Example(ExampleKind.STATIC, "spread", {"hands": hands}, {"source": "test"}))
    assert path == tmp_path / "examples" / "spread" / "static-001.npz"
    assert store.add(Example(ExampleKind.STATIC, "spread", {"hands": hands})).name == "static-002.npz"
    loaded = load_example(path)
    assert loaded.kind is ExampleKind.STATIC and loaded.meta["source"] == "test"
    np.testing.assert_array_equal(loaded.arrays["hands"], hands)
    trained = train(store.examples(), GesturesConfig())
    assert trained.static.classes == ["spread"] and len(trained.static.examples) == 10
    with pytest.raises(GestureError, match="gesture name"):
        store.add(Example(ExampleKind.STATIC, "Bad Name!", {"hands": hands}))
    with pytest.raises(GestureError, match="no examples"):
        train([], GesturesConfig())


def test_a_damaged_example_names_itself(tmp_path):
    store = GestureStore(tmp_path)
    path = store.add(Example(ExampleKind.STATIC, "spread", {"hands": np.zeros((2, 21, 3))}))
    np.savez(path, meta=np.array(json.dumps({"format": "installation-gesture-example", "version": 1,
                                             "kind": "static", "name": "spread"})), hands=np.zeros((2, 20, 3)))
    with pytest.raises(GestureFileError, match=r"'hands' has shape \(2, 20, 3\)") as raised:
        store.examples()
    assert "spread" in str(raised.value)
