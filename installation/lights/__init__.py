"""Lights: DMX512 out over Art-Net or sACN (E1.31), driven by the frame (docs/venue-outputs.md).

``output.DmxOutput`` is a frame listener; ``config.LightsConfig`` is ``[lights]``; ``packets``
has the bytes; ``channels`` what each channel answers to. Nothing is imported here, so that
``installation.config`` can load ``LightsConfig`` without pulling in the frame loop's modules.
"""
