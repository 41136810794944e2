"""The FaceOSC profile (``osc.faceosc``, FaceOSC's port 8338): a face as Kyle McDonald's FaceOSC
(ofxFaceTracker) sends it, so patches and sketches written for FaceOSC work unchanged.

One bundle per new observation: ``/found 1`` and then the pose and gestures, or ``/found 0`` alone
when no face is read, as FaceOSC does. Positions are pixels of a 640 x 480 image (FaceOSC's
camera), orientation is radians about x, y, z (pitch, yaw, roll), and gestures are in face units
(the face 40 units wide): close to FaceOSC's usual ranges, not identical to its tracker's.
"""

from __future__ import annotations

import math

from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from installation.faces import FACE_WIDTH_UNITS, FACEOSC_IMAGE, FaceReading

FACEOSC_PORT = 8338


def _message(path: str, *values: float) -> bytes:
    builder = OscMessageBuilder(address=path)
    for value in values:
        builder.add_arg(float(value), "f")
    return builder.build()


def faceosc_messages(face: FaceReading) -> list:
    """The messages of one frame, in FaceOSC's order."""
    found = OscMessageBuilder(address="/found")
    found.add_arg(int(face.found), "i")
    if not face.found:
        return [found.build()]
    width, height = FACEOSC_IMAGE
    return [
        found.build(),
        _message("/pose/scale", face.size * width / FACE_WIDTH_UNITS),
        _message("/pose/position", face.x * width, face.y * height),
        _message("/pose/orientation", math.radians(face.pitch), math.radians(face.yaw), math.radians(face.roll)),
        _message("/gesture/mouth/width", face.mouth_width),
        _message("/gesture/mouth/height", face.mouth_height),
        _message("/gesture/eyebrow/left", face.eyebrow_left),
        _message("/gesture/eyebrow/right", face.eyebrow_right),
        _message("/gesture/eye/left", face.eye_left),
        _message("/gesture/eye/right", face.eye_right),
        _message("/gesture/jaw", face.jaw),
        _message("/gesture/nostrils", face.nostrils),
    ]


def faceosc_datagram(face: FaceReading) -> bytes:
    """One frame's FaceOSC bundle."""
    builder = OscBundleBuilder(IMMEDIATELY)
    for part in faceosc_messages(face):
        builder.add_content(part)
    return builder.build().dgram
