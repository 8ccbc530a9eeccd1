"""Making untrusted text inert for each output: terminal, XML/HTML, Markdown tables, CSV cells."""

from __future__ import annotations

import re

from markupsafe import Markup

# Everything that is not plain text on a terminal or in a CI log: C0 controls (tab and newline
# too: every caller passes one field of one line), DEL, C1 controls (U+009B is CSI on its own),
# invisible and bidi formatting characters, line/paragraph separators, BOM, lone surrogates.
_TERMINAL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")
# GitHub's runner takes "##[command]data" anywhere in a line of a step's output as a workflow
# command (add-mask, stop-commands, set-output ...): a backslash makes it text.
_LEGACY_COMMAND = "##["
# Characters XML 1.0 does not allow at all (C0 controls but tab, CR, LF; surrogates; U+FFFE/F),
# those it discourages and HTML counts as parse errors (DEL, C1 controls), and the bidi
# embeddings, overrides and isolates that could show a name reversed in a report
# ("Trojan Source"). The JSON report keeps the original text.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
                          "\ud800-\udfff\ufffe\uffff]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def terminal_safe(value: object) -> str:
    """Control characters and bidi overrides shown as ``\\xNN`` or ``\\uNNNN``, so a name cannot
    move the cursor, recolour the terminal, start a line of its own or reverse the text around
    it; ``##[`` becomes ``##\\[`` so a CI log does not run it as a workflow command."""

    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _TERMINAL.sub(escape, str(value)).replace(_LEGACY_COMMAND, "##\\[")


def xml_safe(value: object) -> object:
    """Strings without characters XML 1.0 forbids or discourages, nor bidi overrides (each
    shown as U+FFFD); other values unchanged.

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
    """A GitHub workflow-command property value (``file=``, ``title=``); other control
    characters are shown as ``terminal_safe`` shows them (the log is a terminal too)."""
    text = str(value)
    for char, code in (("%", "%25"), ("\r", "%0D"), ("\n", "%0A"), (":", "%3A"), (",", "%2C")):
        text = text.replace(char, code)
    return terminal_safe(text)


def annotation_message(value: object) -> str:
    """A GitHub workflow-command message; ``::`` cannot start a second command on the line,
    and other control characters are shown as ``terminal_safe`` shows them."""
    text = str(value)
    for char, code in (("%", "%25"), ("\r", "%0D"), ("\n", "%0A")):
        text = text.replace(char, code)
    return terminal_safe(text)
