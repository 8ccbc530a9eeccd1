"""Making untrusted text inert for each output: terminal, XML/HTML, Markdown tables, CSV cells."""

from __future__ import annotations

import re

from markupsafe import Markup

_TERMINAL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
# Characters XML 1.0 does not allow at all (C0 controls but tab, CR, LF; surrogates; U+FFFE/F).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def terminal_safe(value: object) -> str:
    """Control characters and bidi overrides shown as ``\\xNN`` or ``\\uNNNN``, so a name cannot
    move the cursor, recolour the terminal or reverse the text around it."""

    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _TERMINAL.sub(escape, str(value))


def xml_safe(value: object) -> object:
    """Strings without characters XML 1.0 forbids (shown as U+FFFD); other values unchanged.

    Used as Jinja's ``finalize`` for every template, so nothing a resolver or an order file
    says can make an HTML, XML or Markdown report unparseable. Escaping of ``<&>"'`` is
    autoescape's job, not this function's.
    """
    if isinstance(value, Markup):  # already escaped (a macro's output): keep it markup
        return Markup(_XML_ILLEGAL.sub("\ufffd", str(value)))
    if isinstance(value, str):
        return _XML_ILLEGAL.sub("\ufffd", value)
    return value


def md_cell(value: object) -> str:
    """Text for one GitHub-flavoured Markdown table cell, inert: no HTML, no pipes, one line."""
    text = str(value if value is not None else "")
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for char in "`*_[]#!~":
        text = text.replace(char, "\\" + char)
    return " ".join(text.split())


def csv_cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula (OWASP: prefix a quote)."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def annotation_property(value: object) -> str:
    """A GitHub workflow-command property value (``file=``, ``title=``)."""
    text = str(value)
    for char, code in (("%", "%25"), ("\r", "%0D"), ("\n", "%0A"), (":", "%3A"), (",", "%2C")):
        text = text.replace(char, code)
    return text


def annotation_message(value: object) -> str:
    """A GitHub workflow-command message; ``::`` cannot start a second command on the line."""
    text = str(value)
    for char, code in (("%", "%25"), ("\r", "%0D"), ("\n", "%0A")):
        text = text.replace(char, code)
    return text
