"""The one error base: input the user can fix, reported as ``path:line: what is wrong``."""

from __future__ import annotations


class BlockauditError(Exception):
    """Bad input, bad configuration or bad usage; the CLI prints it on one line and exits 2.

    ``path`` and ``line`` (1-based) say where; ``message`` says what is wrong; ``hint``
    optionally says how to fix it.
    """

    def __init__(
        self, message: str, *, path: str | None = None, line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.hint = hint

    def __str__(self) -> str:
        """``path:line: message (hint)`` on one line, with control and invisible characters escaped."""
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        text = f"{where}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text if text.isprintable() else "".join(map(_printable, text))


def _printable(char: str) -> str:
    """``char``, a space for a line end or tab, or an escape (``\\x1b``, ``\\u2028``) for a character
    that would move the cursor, break the line or reorder the text when printed."""
    if char.isprintable():
        return char
    if char in "\t\n\r":
        return " "
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class OrderError(BlockauditError):
    """An order file is malformed or contradicts itself or another order."""


class ResolverConfigError(BlockauditError):
    """The resolver file or the system resolver configuration is unusable."""


class FingerprintError(BlockauditError):
    """A block-page fingerprint file is malformed or contradicts another one."""


class UsageError(BlockauditError):
    """The command line asks for something that cannot be done."""
