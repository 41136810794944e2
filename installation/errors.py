"""Project exception types. Each message says what is wrong and, where it can, how to fix it.

``InstallationError`` (the base: reported in one line, without a traceback) and ``ModelError``
are defined in ``models.errors``, so that models/ never imports the runtime.
"""

from models.errors import ModelError, OneLineError

__all__ = ["InstallationError", "ModelError", "OneLineError"]  # ModelError: re-exported for the runtime

InstallationError = OneLineError


class ConfigError(InstallationError):
    """A configuration key is unknown, of the wrong type, or out of range."""


class SourceError(InstallationError):
    """A camera, video file or image folder cannot be opened or read."""


class SceneError(InstallationError):
    """A scene cannot be found or built."""
