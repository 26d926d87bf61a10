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
