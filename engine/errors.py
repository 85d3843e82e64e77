"""One error family for everything a user can get wrong.

Each error carries a one-line message that says what went wrong, which file or layer, and what to do.
The CLI prints it and exits with status 2; the TUI shows it as a notification.
"""

from __future__ import annotations


class LayerscopeError(Exception):
    """Base class: a problem with the user's input, explained in one line."""

    title = "Error"

    def __init__(self, message: str, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return self.message


class Cancelled(LayerscopeError):
    """The caller set the cancel event: the work stopped and nothing was kept.

    Capture and comparison cancellations subclass it, so the app and the CLI recognise every
    cancellation by this one class without importing torch.
    """

    title = "Cancelled"


class ModelFileError(LayerscopeError):
    """Missing, unreadable, truncated or corrupt model file."""

    title = "Cannot open model"


class UnknownFormatError(ModelFileError):
    """The file's content matches no format layerscope knows."""

    title = "Unknown format"


class UntrustedPickleError(LayerscopeError):
    """The file holds a pickle that could run code; it needs explicit trust."""

    title = "Untrusted pickle"


class UntrustedCodeError(UntrustedPickleError):
    """The file is code (TorchScript): loading or running it needs explicit trust."""

    title = "Untrusted code"


class UnsafePathError(ModelFileError):
    """An external-data reference points outside the model's folder."""

    title = "Unsafe path"


class ArchitectureError(LayerscopeError):
    """An architecture cannot be resolved, or weights do not fit it."""

    title = "Architecture mismatch"


class NotFoundError(LayerscopeError):
    """A layer or tensor name that the model does not have."""

    title = "Not found"


class InputError(LayerscopeError):
    """An input source (data folder, image, array) that cannot be used."""

    title = "Bad input"


class ConfigError(LayerscopeError):
    """A training config or option with a bad key or value."""

    title = "Bad config"


class OverwriteRefusedError(InputError):
    """A write that would replace the model being read, or a file layerscope did not write."""

    title = "Not overwritten"


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """The first line of a library's exception text (its class name if it has none), cut at
    ``limit`` characters: enough to say what went wrong in a one-line error, no traceback."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
