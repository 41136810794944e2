"""Faces: MediaPipe FaceMesh (legacy ``mp.solutions.face_mesh``, whose model ships in the 0.10.21
wheel) read at close range into a small ``FaceReading``: where the face is, how the head is turned,
and expression measures (mouth open, smile, brows raised, eyes open), for scenes and OSC.

Optional (``perception.faces``): FaceMesh costs a few milliseconds a frame on the perception
thread, and only close-range pieces (a mirror, a portrait) have a face big enough to read.

Measures are taken in pixels of the perceived image (x and z times its width, y times its height,
as MediaPipe scales them) and divided by the face's own width, so they do not change with the
visitor's distance. Sides are the visitor's own: FaceMesh places its "right eye" points on the
image's left whatever the image, so in a mirrored image they are the visitor's left eye.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, fields

import numpy as np

FACE_WIDTH_UNITS = 40.0  # FaceOSC-style measures: the face is 40 units wide (its gestures' usual scale)
FACEOSC_IMAGE = (640, 480)  # FaceOSC reports positions in pixels of its 640 x 480 camera image


class FaceLandmark(enum.IntEnum):
    """The FaceMesh points (of 468) the measures use. IMAGE_LEFT_* sit on the image's left."""

    FOREHEAD = 10
    CHIN = 152
    NOSE_TIP = 1
    CHEEK_IMAGE_LEFT = 234
    CHEEK_IMAGE_RIGHT = 454
    MOUTH_CORNER_IMAGE_LEFT = 61
    MOUTH_CORNER_IMAGE_RIGHT = 291
    UPPER_LIP_INNER = 13
    LOWER_LIP_INNER = 14
    EYE_IMAGE_LEFT_UPPER = 159
    EYE_IMAGE_LEFT_LOWER = 145
    EYE_IMAGE_LEFT_OUTER = 33
    EYE_IMAGE_LEFT_INNER = 133
    EYE_IMAGE_RIGHT_UPPER = 386
    EYE_IMAGE_RIGHT_LOWER = 374
    EYE_IMAGE_RIGHT_INNER = 362
    EYE_IMAGE_RIGHT_OUTER = 263
    BROW_IMAGE_LEFT = 105
    BROW_IMAGE_RIGHT = 334
    NOSTRIL_IMAGE_LEFT = 98
    NOSTRIL_IMAGE_RIGHT = 327


def _ramp(value: float, low: float, high: float) -> float:
    """``value`` from ``low`` (0) to ``high`` (1), clipped: a ratio made into a 0..1 expression."""
    return float(min(1.0, max(0.0, (value - low) / (high - low))))


@dataclass(frozen=True)
class FaceReading:
    """One frame's face. Nobody (no face found) is ``FaceReading()``: ``found`` False, all at rest.

    The first fields are the expression features (docs/features.md, "Face"); the FaceOSC measures
    after them are in face units (the face 40 wide), as FaceOSC's gestures are.
    """

    found: bool = False
    x: float = 0.5  # the face's centre, 0..1 across the image
    y: float = 0.5  # ... and down it
    size: float = 0.0  # face width / image width
    mouth_open: float = 0.0  # 0 closed .. 1 wide open (inner lip gap over mouth width, 0.05..0.5)
    smile: float = 0.0  # 0 resting .. 1 broad (mouth width over face width, 0.38..0.48)
    brows_raised: float = 0.0  # 0 resting .. 1 raised (brow over upper eyelid, 0.09..0.16 of face height)
    eyes_open: float = 0.0  # 0 closed .. 1 wide (eyelid gap over eye width, 0.10..0.32), both eyes' mean
    yaw: float = 0.0  # degrees; + = face turned toward the image's right (+x)
    pitch: float = 0.0  # degrees; + = looking up
    roll: float = 0.0  # degrees; + = head tilted toward the image's right, as the `lean` feature
    mouth_width: float = 0.0
    mouth_height: float = 0.0
    eyebrow_left: float = 0.0  # the visitor's own left
    eyebrow_right: float = 0.0
    eye_left: float = 0.0
    eye_right: float = 0.0
    jaw: float = 0.0  # nose tip to chin
    nostrils: float = 0.0  # nostril width

    def as_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}


# Expression features as documented (docs/features.md is generated from this table and feature_specs.py)
FACE_FEATURE_DOCS = (
    ("found", "0 or 1", "A face is read this frame (perception.faces on, the face close enough for FaceMesh)."),
    ("x, y", "0 .. 1", "The face's centre across and down the image."),
    ("size", "0 .. 1", "Face width as a fraction of the image width: nearness."),
    ("mouth_open", "0 .. 1", "Inner lip gap over mouth width, from 0.05 (closed) to 0.5 (wide open)."),
    ("smile", "0 .. 1", "Mouth width over face width, from 0.38 (resting) to 0.48 (a broad smile)."),
    ("brows_raised", "0 .. 1", "Brow height over the upper eyelid, from 0.09 to 0.16 of the face's height."),
    ("eyes_open", "0 .. 1", "Eyelid gap over eye width, from 0.10 (closed) to 0.32 (wide), both eyes' mean."),
    ("yaw", "-90 .. 90", "Head turn in degrees, + toward the image's right (+x, as `body_x`)."),
    ("pitch", "-90 .. 90", "Head nod in degrees, + looking up."),
    ("roll", "-180 .. 180", "Head tilt in degrees, + toward the image's right (as `lean`)."),
)


def read_face(points: np.ndarray, image_size: tuple[int, int], mirrored: bool) -> FaceReading:
    """The FaceReading of FaceMesh's (468, 3) normalised landmarks in an image of ``image_size``
    (width, height); ``mirrored``: the image was flipped left-right (a selfie view)."""
    width, height = image_size
    p = points.astype(np.float64) * (width, height, width)  # (468, 3) pixels; z on x's scale

    def at(mark: FaceLandmark) -> np.ndarray:
        return p[mark]

    def gap(a: FaceLandmark, b: FaceLandmark) -> float:
        return float(np.linalg.norm(at(a) - at(b)))

    L = FaceLandmark
    face_width = max(gap(L.CHEEK_IMAGE_LEFT, L.CHEEK_IMAGE_RIGHT), 1e-6)
    face_height = max(gap(L.FOREHEAD, L.CHIN), 1e-6)
    mouth_width = max(gap(L.MOUTH_CORNER_IMAGE_LEFT, L.MOUTH_CORNER_IMAGE_RIGHT), 1e-6)
    mouth_height = gap(L.UPPER_LIP_INNER, L.LOWER_LIP_INNER)
    eye_image_left = gap(L.EYE_IMAGE_LEFT_UPPER, L.EYE_IMAGE_LEFT_LOWER)
    eye_image_right = gap(L.EYE_IMAGE_RIGHT_UPPER, L.EYE_IMAGE_RIGHT_LOWER)
    eye_ratio = 0.5 * (eye_image_left / max(gap(L.EYE_IMAGE_LEFT_OUTER, L.EYE_IMAGE_LEFT_INNER), 1e-6)
                       + eye_image_right / max(gap(L.EYE_IMAGE_RIGHT_OUTER, L.EYE_IMAGE_RIGHT_INNER), 1e-6))
    brow_image_left = gap(L.BROW_IMAGE_LEFT, L.EYE_IMAGE_LEFT_UPPER)
    brow_image_right = gap(L.BROW_IMAGE_RIGHT, L.EYE_IMAGE_RIGHT_UPPER)
    yaw, pitch, roll = head_angles(p)
    units = FACE_WIDTH_UNITS / face_width
    # in an unmirrored image the image's left eye is the visitor's right; mirrored, their left
    own_left_eye, own_right_eye = (eye_image_left, eye_image_right) if mirrored else (eye_image_right, eye_image_left)
    own_left_brow, own_right_brow = (brow_image_left, brow_image_right) if mirrored else (brow_image_right, brow_image_left)
    centre = points[:, :2].mean(axis=0)
    return FaceReading(
        found=True,
        x=float(centre[0]), y=float(centre[1]), size=float(min(1.0, face_width / width)),
        mouth_open=_ramp(mouth_height / mouth_width, 0.05, 0.5),
        smile=_ramp(mouth_width / face_width, 0.38, 0.48),
        brows_raised=_ramp(0.5 * (brow_image_left + brow_image_right) / face_height, 0.09, 0.16),
        eyes_open=_ramp(eye_ratio, 0.10, 0.32),
        yaw=yaw, pitch=pitch, roll=roll,
        mouth_width=mouth_width * units, mouth_height=mouth_height * units,
        eyebrow_left=own_left_brow * units, eyebrow_right=own_right_brow * units,
        eye_left=own_left_eye * units, eye_right=own_right_eye * units,
        jaw=gap(L.NOSE_TIP, L.CHIN) * units, nostrils=gap(L.NOSTRIL_IMAGE_LEFT, L.NOSTRIL_IMAGE_RIGHT) * units,
    )


def head_angles(p: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from (468, 3) landmarks in pixels: the face's own axes are
    cheek to cheek (x) and forehead to chin (y, made square to x); its normal is their cross."""
    across = p[FaceLandmark.CHEEK_IMAGE_RIGHT] - p[FaceLandmark.CHEEK_IMAGE_LEFT]
    across /= max(np.linalg.norm(across), 1e-9)
    down = p[FaceLandmark.CHIN] - p[FaceLandmark.FOREHEAD]
    down -= down.dot(across) * across
    down /= max(np.linalg.norm(down), 1e-9)
    toward_camera = -np.cross(across, down)  # image x right, y down, z away from the camera
    yaw = math.degrees(math.atan2(toward_camera[0], -toward_camera[2]))
    pitch = math.degrees(math.asin(float(np.clip(-toward_camera[1], -1.0, 1.0))))
    roll = math.degrees(math.atan2(across[1], across[0]))
    return yaw, pitch, roll


class FaceReader:
    """Owns the FaceMesh graph (one face, the nearest: a close-range piece answers one visitor).
    ``read(rgb, mirrored)`` returns a FaceReading; ``FaceReading()`` when no face is found."""

    def __init__(self, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5) -> None:
        import mediapipe as mp  # imported here: only a run with perception.faces pays for it

        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False,  # tracking mode: detect once, then follow
            max_num_faces=1,
            refine_landmarks=False,  # the irises are not used; the plain mesh is cheaper
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )

    def read(self, rgb: np.ndarray, mirrored: bool) -> FaceReading:
        """The face in an (H, W, 3) RGB uint8 image. MediaPipe's errors propagate: the caller
        (perception) counts them and carries on with an empty observation."""
        result = self._mesh.process(rgb)
        if not result.multi_face_landmarks:
            return FaceReading()
        points = np.array([(q.x, q.y, q.z) for q in result.multi_face_landmarks[0].landmark], np.float32)  # (468, 3)
        return read_face(points, (rgb.shape[1], rgb.shape[0]), mirrored)

    def close(self) -> None:
        self._mesh.close()


def face_docs_markdown() -> str:
    """The "Face" section of docs/features.md."""
    lines = [
        "## Face (with `perception.faces`)",
        "",
        "Read by MediaPipe FaceMesh at close range (installation/faces.py), given to scenes as "
        "`inputs.face` (a `FaceReading`; `found` False and all at rest when no face is read) and sent "
        "as `/face` (docs/osc.md) and, with `osc.faceosc`, in FaceOSC's layout. Ratios are measured "
        "after scaling x by the image aspect, so they do not depend on the visitor's distance.",
        "",
        "| name | range | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| `{name}` | {span} | {meaning} |" for name, span, meaning in FACE_FEATURE_DOCS]
    return "\n".join(lines) + "\n"
