"""The quality figure on real art: the Fréchet distance is 0 for identical sets and grows as pictures
are blurred, precision/recall tell real pictures from smudges, and copies of training images are
caught as memorisation while held-out pictures are not."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models.data import load_dataset, split_holdout, to_model_range
from models.quality import ImageFeatures, frechet_distance, memorisation_figures, nearest, precision_recall
from tests.conftest import ART

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def real():
    """(held-out pictures, 300 training pictures, their features) from the real emoji and clip-art sets."""
    sets = [ART / "openclipart_64.npz", ART / "emoji_64.npz"]
    if not all(s.is_file() for s in sets):
        pytest.skip(f"art data sets not found in {ART}")
    data = load_dataset(sets, 64)
    train_idx, held_idx = split_holdout(data)
    pick = train_idx[torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(0))[:300]]
    features = ImageFeatures()
    held, train = to_model_range(data.images[held_idx]), to_model_range(data.images[pick])
    return features, held, train, features(held), features(train)


def _blur(images: torch.Tensor, factor: int) -> torch.Tensor:
    return F.interpolate(F.avg_pool2d(images.float(), factor), scale_factor=factor, mode="bilinear")


def test_features_are_the_networks_pooled_features(real) -> None:
    _, held, _, held_features, _ = real
    assert held_features.shape == (len(held), 1280)
    assert np.isfinite(held_features).all() and held_features.std(axis=0).max() > 0.1


def test_frechet_distance_is_zero_for_identical_sets_and_grows_with_blur(real) -> None:
    features, _, train, held_features, train_features = real
    assert frechet_distance(held_features, held_features) == pytest.approx(0.0, abs=1e-6)
    floor = frechet_distance(train_features, held_features)
    blurred = [frechet_distance(features(_blur(train, k)), held_features) for k in (2, 4, 8)]
    assert floor < blurred[0] < blurred[1] < blurred[2], (floor, blurred)
    assert blurred[1] > 5 * floor  # a 16 px smudge is far from the art, real pictures are close


def test_precision_and_recall_tell_real_pictures_from_smudges(real) -> None:
    features, _, train, held_features, train_features = real
    real_precision, real_recall = precision_recall(held_features, train_features)
    smudge_precision, smudge_recall = precision_recall(held_features, features(_blur(train, 8)))
    assert real_precision > 0.7 and real_recall > 0.7
    assert smudge_precision < 0.5 * real_precision and smudge_recall < 0.2


def test_copies_of_training_images_are_memorisation_and_held_out_pictures_are_not(real) -> None:
    _, _, _, held_features, train_features = real
    reference, copies = train_features[:200], train_features[:100]  # samples that are training images
    held_to_train = nearest(held_features, reference)[0]
    copied = memorisation_figures(nearest(copies, reference)[0], held_to_train)
    assert copied.memorises and copied.share_closer == 1.0 and copied.closest_sample == pytest.approx(0.0, abs=1e-6)
    fresh = memorisation_figures(nearest(train_features[200:], reference)[0], held_to_train)
    assert not fresh.memorises and 0.5 < fresh.median_ratio < 2.0
