"""Exception types shared across the package.

Every error a user can provoke with bad input derives from :class:`EdmsError`, so the
CLI and the GUI can show one clear line instead of a traceback.
"""


class EdmsError(Exception):
    """Base class of every user-facing error."""


class ImageReadError(EdmsError):
    """An input image cannot be read (corrupt, unsupported, too large)."""


class CodecError(EdmsError):
    """A layer codec failed to encode or decode."""


class PipelineError(EdmsError):
    """A pipeline was misused (unknown name, bad parameter, model mismatch)."""


class Cancelled(Exception):  # noqa: N818 - a request, not a failure
    """The caller asked a running encode/decode to stop (see :mod:`app.cancel`).

    Not an :class:`EdmsError`: nothing is wrong with the input, so callers report it as
    "cancelled", never as an error."""
