"""The calibration package's exception type."""

from __future__ import annotations

from installation.errors import InstallationError


class CalibrationError(InstallationError):
    """A calibration cannot be computed, or a venue or point-pairs file is malformed.

    The message names the file, the key, the value and what was expected, and main.py reports it
    in one line without a traceback (it is an InstallationError).
    """
