"""Two or more people from clips of one: a real person cut out of one frame and laid over another.

MediaPipe Pose's own segmentation mask (legacy ``mp.solutions``, bundled with the package, no
download) cuts the dancer of ``tfjs_pose_1_dance.mp4`` out of a frame; ``overlay`` lays that cut-out,
shifted, scaled and optionally recoloured, over another frame, so the front person really hides
part of the one behind. Used to make side-by-side, overlapping and walking-out scenes."""

from __future__ import annotations

import cv2
import numpy as np


def person_masks(frames: list[np.ndarray]) -> list[np.ndarray]:
    """The (H, W) float32 person mask (0..1) of each frame, in order (Pose in tracking mode)."""
    import mediapipe as mp

    pose = mp.solutions.pose.Pose(static_image_mode=False, enable_segmentation=True, model_complexity=1)
    try:
        masks = []
        for image in frames:
            result = pose.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            mask = result.segmentation_mask
            masks.append(np.zeros(image.shape[:2], np.float32) if mask is None else mask.astype(np.float32))
        return masks
    finally:
        pose.close()


def recoloured(image: np.ndarray, hue_shift: int) -> np.ndarray:
    """The image with every hue turned by ``hue_shift`` (OpenCV units, 180 a full turn): other clothes."""
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + hue_shift) % 180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def overlay(back: np.ndarray, front: np.ndarray, mask: np.ndarray, dx: float, scale: float = 1.0) -> np.ndarray:
    """``front``'s person (``mask``) scaled about the bottom centre by ``scale`` and moved ``dx``
    of ``back``'s width to the right, laid over ``back`` (the same size as ``front``)."""
    height, width = back.shape[:2]
    matrix = np.float32([[scale, 0, (1 - scale) * width / 2 + dx * width], [0, scale, (1 - scale) * height]])
    moved = cv2.warpAffine(front, matrix, (width, height))
    alpha = cv2.warpAffine(mask, matrix, (width, height))[..., None]  # (H, W, 1)
    return (back * (1 - alpha) + moved * alpha).astype(np.uint8)
