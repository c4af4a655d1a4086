"""The engine's exceptions: each carries a one-line message meant for the user."""


class TuikerError(Exception):
    """Base of every error the engine reports to a user (CLI prints str(e), exit 1 or 125)."""


class ReferenceFormatError(TuikerError):
    """An image reference that does not follow Docker's grammar."""


class RegistryError(TuikerError):
    """The registry could not be reached, refused us, or answered something unusable."""


class NotFoundError(TuikerError):
    """An image, tag, manifest or blob that does not exist."""


class DigestMismatchError(TuikerError):
    """Content whose sha256 differs from the digest that names it."""


class LayerError(TuikerError):
    """A layer tar that is malformed or tries to write outside its own directory."""


class ArchiveError(TuikerError):
    """A docker-archive / OCI layout tar that cannot be read."""


def one_line(message: object) -> str:
    """`message` as one printable line: names from archives, registries or users may carry newlines or terminal
    escapes, which must neither split an error line nor reach the terminal raw."""
    text = str(message)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


class ConflictError(TuikerError):
    """A request that conflicts with the state (a name in use, removing a running container): docker's 409."""


class InvalidArgument(TuikerError):
    """A value the engine refuses (a bad flag value, an unknown option): docker's 400."""


class ForbiddenError(TuikerError):
    """A request the state forbids for good (removing a pre-defined network, one with active endpoints): docker's
    403."""


def error_kind(e: TuikerError) -> str:
    """The class name of an engine error, for the monitor's replies (the client raises the same class again)."""
    return type(e).__name__ if type(e).__name__ in _KINDS else "TuikerError"


def from_kind(kind: str | None, message: str) -> TuikerError:
    return _KINDS.get(kind or "", TuikerError)(message)


_KINDS = {cls.__name__: cls for cls in (TuikerError, NotFoundError, ConflictError, InvalidArgument, ForbiddenError)}
