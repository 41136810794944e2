"""Helpers the built-in scenes share: the generator's tools for a scene, a stroke canvas, the
camera-to-picture geometry and MediaPipe selfie segmentation.

They live here rather than in ``scenes/`` because every module there is a scene.
"""
