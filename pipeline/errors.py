"""Errors a user can act on, and warnings a user should read. The CLI prints each message as one
line; anything else is a bug."""

import warnings


class InputError(Exception):
    """Bad input: a file that is missing, unreadable, or does not fit the job."""


class NoMarkFound(InputError):
    """Template mode found no watermark in an image; the image is left untouched."""


class StorageError(InputError):
    """A file that cannot be written or read back: permissions, a full disk, a folder in the
    way. Its message names the path and says what to do."""


class UnmarkWarning(UserWarning):
    """Something the user should know about, but that does not stop the job."""


def warn(message: str) -> None:
    warnings.warn(message, UnmarkWarning, stacklevel=2)
