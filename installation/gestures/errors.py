"""The gesture package's exception types."""

from __future__ import annotations

from installation.errors import InstallationError


class GestureError(InstallationError):
    """A gesture example, model or command cannot be used as asked (bad name, nothing to train)."""


class GestureFileError(GestureError):
    """A gesture example or model file is missing, corrupt, or of another format version.

    The message names the file and says how to fix it (usually: record again, or re-run
    ``python main.py gestures train``).
    """
