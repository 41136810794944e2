"""The error types of models/, at the bottom of the import graph so that models/ stands alone.

``OneLineError`` is the base of every error the command line reports in one line (exit status
2, no traceback); the runtime's ``installation.errors.InstallationError`` is this same class, so
a model's error and a configuration error are caught and reported alike.
"""


class OneLineError(Exception):
    """Base class: an error the command line reports in one line, without a traceback."""


class ModelError(OneLineError):
    """A generator cannot be built or loaded."""
