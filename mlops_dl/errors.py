"""The one exception type for errors a user can cause (bad config, file, row, reference, request)."""


class MlopsError(Exception):
    """A user-facing error: the message names the file, row, key or field at fault.

    The CLI prints it without a traceback and exits with ``exit_code``.
    """

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(MlopsError):
    """A config file or a --set override that does not fit the schema."""


class DataError(MlopsError):
    """A data source that is missing, malformed or empty."""


class RegistryError(MlopsError):
    """A bad model reference, a missing or tampered registry version."""
