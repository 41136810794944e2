"""Faces (installation/faces.py) and the FaceOSC profile on real footage.

Ground truth for "a face is visible": MediaPipe Pose's face points (nose, eyes, ears, mouth: pose
landmarks 0-10) seen, with visibility >= 0.5 inside the image, on at least 8 of the 11. The clips
(../shared/media/SOURCES.md): an ASL signer facing the camera (yes.mkv, no.mkv) and a tree with
nobody in frame (opencv_tree_nobody.avi), played one after another as one stream, so FaceMesh's
tracking has to notice the face leave and another arrive.
"""

from __future__ import annotations

import logging
import socket

import numpy as np
import pytest
from pythonosc.osc_bundle import OscBundle

from installation.config import OscConfig, PerceptionConfig
from installation.contracts import Frame, LatentState, TrackedBody
from installation.faces import FaceReading, head_angles, read_face
from installation.feature_specs import Features
from installation.osc.faceosc import faceosc_datagram
from installation.osc.sender import OscSender
from installation.perceiver import Perceiver
from installation.report import FrameReport
from tests.helpers.video import read_frames

log = logging.getLogger(__name__)

CLIPS = (("intel_asl/yes.mkv", None), ("opencv_tree_nobody.avi", None), ("intel_asl/no.mkv", None))
FACEOSC_ADDRESSES = ["/found", "/pose/scale", "/pose/position", "/pose/orientation", "/gesture/mouth/width",
                     "/gesture/mouth/height", "/gesture/eyebrow/left", "/gesture/eyebrow/right", "/gesture/eye/left",
                     "/gesture/eye/right", "/gesture/jaw", "/gesture/nostrils"]


def face_in_view(pose: np.ndarray) -> bool:
    """The ground truth: 8 or more of the pose's 11 face points seen inside the image."""
    if pose.shape[0] == 0:
        return False
    face = pose[:11]
    seen = (face[:, 3] >= 0.5) & (face[:, 0] >= 0) & (face[:, 0] <= 1) & (face[:, 1] >= 0) & (face[:, 1] <= 1)
    return int(seen.sum()) >= 8


def bundle_messages(datagram: bytes) -> list[tuple[str, list]]:
    bundle = OscBundle(datagram)
    return [(message.address, list(message.params)) for message in bundle]


@pytest.fixture(scope="module")
def faceosc_on_clips(media):
    """(ground truth, /found received) per frame, and every FaceOSC bundle received."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(2.0)
    sender = OscSender(OscConfig(faceosc=f"127.0.0.1:{receiver.getsockname()[1]}"))
    perceiver = Perceiver(PerceptionConfig(faces=True, hands=False))
    truth, found, bundles = [], [], []
    index = 0
    for clip, _ in CLIPS:
        for image in read_frames(media / "video" / clip, None, mirror=True):
            image = np.ascontiguousarray(image)
            frame = Frame(index, index / 30.0, 0.0, image, True)
            observation = perceiver.process(frame)
            report = FrameReport(frame.timestamp_s, observation, TrackedBody.nobody(0.0), Features.neutral(),
                                 LatentState(np.zeros(4, np.float32)), "face_mirror")
            sender.on_frame(report)
            messages = bundle_messages(receiver.recv(4096))  # loopback: already queued, no waiting
            bundles.append(messages)
            truth.append(face_in_view(observation.pose))
            found.append(messages[0] == ("/found", [1]))
            index += 1
    perceiver.close()
    sender.close()
    receiver.close()
    return np.array(truth), np.array(found), bundles


def test_found_agrees_with_visible_faces_on_95_percent_of_frames(faceosc_on_clips):
    truth, found, _ = faceosc_on_clips
    agreement = float((truth == found).mean())
    log.warning("FaceOSC /found agrees with the pose's face points on %.1f %% of %d frames (%d with a face, %d "
                "without; %d missed, %d false)", 100 * agreement, len(truth), truth.sum(), (~truth).sum(),
                (truth & ~found).sum(), (~truth & found).sum())
    assert truth.sum() >= 100 and (~truth).sum() >= 50  # both cases are really there
    assert agreement >= 0.95


def test_faceosc_bundles_have_the_documented_layout_and_ranges(faceosc_on_clips):
    _, found, bundles = faceosc_on_clips
    for has_face, messages in zip(found, bundles):
        if not has_face:
            assert messages == [("/found", [0])]
            continue
        assert [address for address, _ in messages] == FACEOSC_ADDRESSES
        values = dict(messages)
        assert 0 < values["/pose/position"][0] < 640 and 0 < values["/pose/position"][1] < 480
        assert 0.5 < values["/pose/scale"][0] < 10  # the signer's face is ~65 of 640 pixels wide
        assert all(abs(angle) < 1.0 for angle in values["/pose/orientation"])  # facing the camera (radians)
        assert 8 < values["/gesture/mouth/width"][0] < 20 and 0 < values["/gesture/eye/left"][0] < 5


def test_no_face_reads_as_nobody_and_a_frontal_face_has_level_angles():
    assert bundle_messages(faceosc_datagram(FaceReading())) == [("/found", [0])]
    # a flat face square to the camera: cheeks level, forehead above chin, all at one depth
    points = np.full((468, 3), 0.5, np.float32)
    points[234], points[454], points[10], points[152] = (0.4, 0.5, 0), (0.6, 0.5, 0), (0.5, 0.35, 0), (0.5, 0.7, 0)
    yaw, pitch, roll = head_angles(points * (640, 480, 640))
    assert abs(yaw) < 1e-6 and abs(pitch) < 1e-6 and abs(roll) < 1e-6
    tilted = points.copy()
    tilted[454] = (0.6, 0.55, 0)  # the image-right cheek lower: the head tilts toward +x
    assert head_angles(tilted * (640, 480, 640))[2] > 0
    turned = points.copy()
    turned[454, 2], turned[234, 2] = 0.05, -0.05  # the image-right cheek further away: turned toward +x
    assert head_angles(turned * (640, 480, 640))[0] > 0
    assert read_face(points, (640, 480), mirrored=True).found
