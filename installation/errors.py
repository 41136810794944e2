"""Project exception types. Each message says what is wrong and, where it can, how to fix it."""


class InstallationError(Exception):
    """Base class: an error the command line reports in one line, without a traceback."""


class ConfigError(InstallationError):
    """A configuration key is unknown, of the wrong type, or out of range."""


class SourceError(InstallationError):
    """A camera, video file or image folder cannot be opened or read."""


class ModelError(InstallationError):
    """A generator cannot be built or loaded."""


class SceneError(InstallationError):
    """A scene cannot be found or built."""
