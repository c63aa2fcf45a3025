"""A CL command parser written from IBM's CL syntax rules, independent of the product's builders.

Why a separate parser: the product builds CL strings; if the simulator shared its code, a bad
builder would be accepted by its own mirror image. This parser follows IBM's rules instead:
``[LIB/]CMD KWD(value ...) ...``, names of at most 10 characters (first A-Z $ # @, then A-Z 0-9
$ # @ _ ., lower case folded to upper), special values ``*ALL``, qualified names ``LIB/OBJ``,
strings in apostrophes with ``''`` for one apostrophe, numbers, and nested lists. A syntax or
parameter error raises :class:`CLParseError`, which the node turns into the diagnostic followed by
the escape ``CPF0001 Error found on <CMD> command.`` (ibmi.md §5.4 last row, §2.3).

Without a command registry the parser checks syntax only (positional values keep no keyword);
with one (:mod:`ibmi_sim.cl_specs`) it also checks keywords, positional limits, required
parameters and value shapes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Union

_NAME_RE = re.compile(r"^[A-Z$#@][A-Z0-9$#@_.]*$")
_SPECIAL_RE = re.compile(r"^\*[A-Z][A-Z0-9$#@_]*$")
_GENERIC_RE = re.compile(r"^[A-Z$#@][A-Z0-9$#@_.]*\*$")
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_HEX_RE = re.compile(r"^[0-9A-F]*$")
_SEPARATORS = " \t\r\n"
_DELIMITERS = "()/'\""
NAME_MAX = 10
SPECIAL_MAX = 11  # '*' plus up to 10 characters, e.g. *ALLUSRAVL [I]
MAX_NESTING = 32  # [G] IBM's limit is lower in practice; this one only protects the parser


class CLParseError(Exception):
    """A CL syntax or parameter error: diagnostics, then escape CPF0001 for ``command``."""

    def __init__(self, command: str, msg_id: str, *data: object) -> None:
        self.command = command
        self.diagnostics: list[tuple[str, tuple[object, ...]]] = [(msg_id, data)]
        super().__init__(f"{msg_id} {data!r} in command {command}")


class WordKind(StrEnum):
    """What an unquoted word is, by IBM's rules for names and values."""

    NAME = "NAME"
    SPECIAL = "SPECIAL"
    GENERIC = "GENERIC"
    NUMBER = "NUMBER"


@dataclass(frozen=True)
class Word:
    """An unquoted value: a name, a special value, a generic name or a number (upper case)."""

    text: str
    kind: WordKind


@dataclass(frozen=True)
class QuotedString:
    """A value in apostrophes; ``value`` holds the text with ``''`` already undoubled."""

    value: str


@dataclass(frozen=True)
class HexString:
    """A hexadecimal literal ``X'C1C2'``."""

    digits: str


@dataclass(frozen=True)
class Qualified:
    """A qualified name ``LIB/OBJ`` (or ``nnnnnn/USER/NAME`` for jobs): two or three parts."""

    parts: tuple[Word, ...]


@dataclass(frozen=True)
class ValueList:
    """A parenthesised list inside a parameter value, e.g. each element of ``OBJ((a b) (c d))``."""

    items: tuple[Element, ...]


@dataclass(frozen=True)
class CommandString:
    """A command given as a parameter value, e.g. ``SBMJOB CMD(SAVLIB LIB(X))``."""

    command: CLCommand


Element = Union[Word, QuotedString, HexString, Qualified, ValueList, CommandString]  # noqa: UP007


@dataclass(frozen=True)
class Parameter:
    """One parameter: ``keyword`` is None for a positional value in syntax-only mode."""

    keyword: str | None
    values: tuple[Element, ...]


@dataclass(frozen=True)
class CLCommand:
    """A parsed CL command; with a registry, every parameter carries its keyword."""

    name: str
    library: str | None = None
    params: tuple[Parameter, ...] = field(default_factory=tuple)

    def get(self, keyword: str) -> Parameter | None:
        """The parameter for ``keyword``, or None when it was not specified."""
        for param in self.params:
            if param.keyword == keyword:
                return param
        return None

    def values(self, keyword: str) -> tuple[Element, ...]:
        """The values of ``keyword`` (empty when not specified)."""
        param = self.get(keyword)
        return param.values if param else ()

    def text(self, keyword: str, default: str | None = None) -> str | None:
        """The first value of ``keyword`` as text (names and specials upper case)."""
        vals = self.values(keyword)
        if not vals:
            return default
        return element_text(vals[0])

    def texts(self, keyword: str) -> list[str]:
        """Every value of ``keyword`` as text."""
        return [element_text(v) for v in self.values(keyword)]

    def qualified(self, keyword: str, default_lib: str = "*LIBL") -> tuple[str, str] | None:
        """``(library, object)`` of a qualified-name parameter; library defaults to *LIBL."""
        vals = self.values(keyword)
        if not vals:
            return None
        first = vals[0]
        if isinstance(first, Qualified):
            return first.parts[0].text, first.parts[-1].text
        return default_lib, element_text(first)


def element_text(element: Element) -> str:
    """Plain text of one element (a string's value, a qualified name joined with '/')."""
    if isinstance(element, Word):
        return element.text
    if isinstance(element, QuotedString):
        return element.value
    if isinstance(element, HexString):
        return element.digits
    if isinstance(element, Qualified):
        return "/".join(p.text for p in element.parts)
    if isinstance(element, CommandString):
        return render(element.command)
    return " ".join(element_text(i) for i in element.items)


# --- rendering ------------------------------------------------------------------------------


def render_element(element: Element) -> str:
    """CL source text for one element; quoting doubles apostrophes (ibmi.md §2.4 item 5)."""
    if isinstance(element, Word):
        return element.text
    if isinstance(element, QuotedString):
        return "'" + element.value.replace("'", "''") + "'"
    if isinstance(element, HexString):
        return f"X'{element.digits}'"
    if isinstance(element, Qualified):
        return "/".join(p.text for p in element.parts)
    if isinstance(element, CommandString):
        return render(element.command)
    return "(" + " ".join(render_element(i) for i in element.items) + ")"


def render(command: CLCommand) -> str:
    """Canonical CL text: keywords upper case, one blank between parameters."""
    head = f"{command.library}/{command.name}" if command.library else command.name
    parts = [head]
    for param in command.params:
        body = " ".join(render_element(v) for v in param.values)
        if param.keyword is None:
            parts.append(body)
        else:
            parts.append(f"{param.keyword}({body})")
    return " ".join(parts)


# --- lexing ---------------------------------------------------------------------------------


class _Tok(StrEnum):
    WORD = "WORD"
    STRING = "STRING"
    HEX = "HEX"
    LPAREN = "("
    RPAREN = ")"
    SLASH = "/"
    EOF = "EOF"


@dataclass(frozen=True)
class _Token:
    kind: _Tok
    text: str
    start: int
    end: int
    spaced: bool  # preceded by a separator (or at the start)


def _lex(source: str, cmd: str) -> list[_Token]:
    """Split CL source into tokens; an unclosed apostrophe is CPD0013 [G id]."""
    tokens: list[_Token] = []
    i, n = 0, len(source)
    spaced = True
    while i < n:
        ch = source[i]
        if ch in _SEPARATORS:
            spaced = True
            i += 1
            continue
        start = i
        at_value_start = i == 0 or source[i - 1] in _SEPARATORS or source[i - 1] == "("
        if ch in "xX" and i + 1 < n and source[i + 1] == "'" and at_value_start:
            value, i = _read_string(source, i + 1, cmd)
            tokens.append(_Token(_Tok.HEX, value, start, i, spaced))
        elif ch == "'":
            value, i = _read_string(source, i, cmd)
            tokens.append(_Token(_Tok.STRING, value, start, i, spaced))
        elif ch == '"':
            # Extended (quoted) names exist on IBM i but no command the product sends uses them.
            raise CLParseError(cmd, "CPD0018", ch)
        elif ch in "()/":
            kind = {"(": _Tok.LPAREN, ")": _Tok.RPAREN, "/": _Tok.SLASH}[ch]
            tokens.append(_Token(kind, ch, start, i + 1, spaced))
            i += 1
        else:
            while i < n and source[i] not in _SEPARATORS and source[i] not in _DELIMITERS:
                i += 1
            tokens.append(_Token(_Tok.WORD, source[start:i], start, i, spaced))
        spaced = False
    tokens.append(_Token(_Tok.EOF, "", n, n, True))
    return tokens


def _read_string(source: str, i: int, cmd: str) -> tuple[str, int]:
    """Read ``'...'`` starting at the apostrophe ``source[i]``; ``''`` is one apostrophe."""
    out: list[str] = []
    j = i + 1
    n = len(source)
    while True:
        if j >= n:
            raise CLParseError(cmd, "CPD0013", source[i : i + 20])
        if source[j] == "'":
            if j + 1 < n and source[j + 1] == "'":
                out.append("'")
                j += 2
                continue
            return "".join(out), j + 1
        out.append(source[j])
        j += 1


def classify_word(raw: str, cmd: str, keyword: str | None) -> Word:
    """Classify an unquoted word by IBM's *NAME rules (upper-cased first)."""
    text = raw.upper()
    where = keyword or "*N"
    if not raw.isascii():  # checked before upper(): 'ı'.upper() is an ASCII 'I'
        raise CLParseError(cmd, "CPD0078", raw, where)
    if _NUMBER_RE.match(text):
        return Word(text, WordKind.NUMBER)
    if text.startswith("*"):
        if _SPECIAL_RE.match(text) and len(text) <= SPECIAL_MAX:
            return Word(text, WordKind.SPECIAL)
        raise CLParseError(cmd, "CPD0086", raw, where)
    if _GENERIC_RE.match(text):
        if len(text) > NAME_MAX:
            raise CLParseError(cmd, "CPD0074", raw)
        return Word(text, WordKind.GENERIC)
    if _NAME_RE.match(text):
        if len(text) > NAME_MAX:
            raise CLParseError(cmd, "CPD0074", raw)
        return Word(text, WordKind.NAME)
    raise CLParseError(cmd, "CPD0078", raw, where)


# --- parsing --------------------------------------------------------------------------------


class _Parser:
    """Recursive-descent parser over the token list of one command."""

    def __init__(self, source: str, registry: Mapping[str, CommandSpecLike] | None) -> None:
        self.source = source
        self.registry = registry
        self.cmd = "*N"
        self.tokens = _lex(source, self.cmd)
        self.pos = 0
        depth = 0
        for tok in self.tokens:
            depth += {_Tok.LPAREN: 1, _Tok.RPAREN: -1}.get(tok.kind, 0)
            if depth < 0:
                break
            if depth > MAX_NESTING:
                raise CLParseError(self.cmd, "CPD0087", self.cmd)
        if depth != 0:
            raise CLParseError(self.cmd, "CPD0014", self.cmd)

    def _peek(self, offset: int = 0) -> _Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def _next(self) -> _Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def parse(self) -> CLCommand:
        first = self._next()
        if first.kind is not _Tok.WORD:
            raise CLParseError(self.cmd, "CPD0018", first.text or " ")
        library: str | None = None
        name_tok = first
        if first.text.endswith(":") and len(first.text) > 1:  # a CL label, e.g. "A: CMD"
            name_tok = self._next()
            if name_tok.kind is not _Tok.WORD:
                raise CLParseError(self.cmd, "CPD0018", name_tok.text or " ")
        nxt = self._peek()
        if nxt.kind is _Tok.SLASH and not nxt.spaced:
            self._next()
            obj = self._next()
            if obj.kind is not _Tok.WORD or obj.spaced:
                raise CLParseError(self.cmd, "CPD0018", "/")
            library = self._name(name_tok.text)
            name_tok = obj
        name = self._name(name_tok.text)
        self.cmd = name
        spec = self.registry.get(name) if self.registry is not None else None
        if self.registry is not None and spec is None:
            raise CLParseError(name, "CPD0030", name, library or "*LIBL")
        params: list[Parameter] = []
        while self._peek().kind is not _Tok.EOF:
            tok = self._peek()
            after = self._peek(1)
            if tok.kind is _Tok.WORD and after.kind is _Tok.LPAREN and not after.spaced:
                keyword = self._keyword(tok.text)
                self._next()
                self._next()
                if spec is not None and spec.kind_of(keyword) == "CMD":
                    params.append(Parameter(keyword, (self._command_value(),)))
                else:
                    params.append(Parameter(keyword, tuple(self._elements(keyword))))
            elif tok.kind is _Tok.RPAREN:
                raise CLParseError(name, "CPD0014", name)
            else:
                params.append(Parameter(None, (self._element(None),)))
        command = CLCommand(name, library, tuple(params))
        if spec is not None:
            command = spec.bind(command)
        return command

    def _name(self, raw: str) -> str:
        word = classify_word(raw, self.cmd, None)
        if word.kind is not WordKind.NAME:
            raise CLParseError(self.cmd, "CPD0078", raw, "*N")
        return word.text

    def _keyword(self, raw: str) -> str:
        text = raw.upper()
        if not raw.isascii() or not _NAME_RE.match(text) or len(text) > NAME_MAX:
            raise CLParseError(self.cmd, "CPD0043", raw)
        return text

    def _elements(self, keyword: str | None) -> list[Element]:
        """Elements up to and including the closing parenthesis."""
        items: list[Element] = []
        while True:
            tok = self._peek()
            if tok.kind is _Tok.RPAREN:
                self._next()
                return items
            if tok.kind is _Tok.EOF:
                raise CLParseError(self.cmd, "CPD0014", self.cmd)
            items.append(self._element(keyword))

    def _element(self, keyword: str | None) -> Element:
        tok = self._next()
        if tok.kind is _Tok.LPAREN:
            return ValueList(tuple(self._elements(keyword)))
        if tok.kind is _Tok.STRING:
            self._no_glue()
            return QuotedString(tok.text)
        if tok.kind is _Tok.HEX:
            digits = tok.text.upper()
            if not _HEX_RE.match(digits) or len(digits) % 2:
                raise CLParseError(self.cmd, "CPD0086", tok.text, keyword or "*N")
            self._no_glue()
            return HexString(digits)
        if tok.kind is _Tok.WORD:
            if self._peek().kind is _Tok.LPAREN and not self._peek().spaced:
                # KWD( inside a value: only a command-string parameter may hold one.
                raise CLParseError(self.cmd, "CPD0043", tok.text)
            parts = [classify_word(tok.text, self.cmd, keyword)]
            while self._peek().kind is _Tok.SLASH and not self._peek().spaced:
                self._next()
                part = self._next()
                if part.kind is not _Tok.WORD or part.spaced:
                    raise CLParseError(self.cmd, "CPD0018", "/")
                parts.append(classify_word(part.text, self.cmd, keyword))
            self._no_glue()
            if len(parts) == 1:
                return parts[0]
            if len(parts) > 3 or any(p.kind is WordKind.NUMBER for p in parts[1:]):
                raise CLParseError(self.cmd, "CPD0086", "/".join(p.text for p in parts), keyword)
            return Qualified(tuple(parts))
        if tok.kind is _Tok.RPAREN or tok.kind is _Tok.EOF:
            raise CLParseError(self.cmd, "CPD0014", self.cmd)
        raise CLParseError(self.cmd, "CPD0018", tok.text)

    def _no_glue(self) -> None:
        """A string must be followed by a separator or a parenthesis ('A'B is not one value)."""
        nxt = self._peek()
        if nxt.kind in (_Tok.WORD, _Tok.STRING, _Tok.HEX, _Tok.SLASH) and not nxt.spaced:
            raise CLParseError(self.cmd, "CPD0018", nxt.text)

    def _command_value(self) -> CommandString:
        """The text inside ``CMD(...)``, parsed as a command of its own."""
        depth = 1
        start = self._peek().start
        while True:
            tok = self._next()
            if tok.kind is _Tok.EOF:
                raise CLParseError(self.cmd, "CPD0014", self.cmd)
            if tok.kind is _Tok.LPAREN:
                depth += 1
            elif tok.kind is _Tok.RPAREN:
                depth -= 1
                if depth == 0:
                    inner = self.source[start : tok.start]
                    try:
                        return CommandString(parse(inner, self.registry))
                    except CLParseError as exc:
                        exc.command = self.cmd
                        raise


class CommandSpecLike:
    """What the parser needs from a command definition (see :class:`ibmi_sim.cl_specs.Spec`)."""

    def kind_of(self, keyword: str) -> str | None:  # pragma: no cover - interface
        raise NotImplementedError

    def bind(self, command: CLCommand) -> CLCommand:  # pragma: no cover - interface
        raise NotImplementedError


def parse(source: str, registry: Mapping[str, CommandSpecLike] | None = None) -> CLCommand:
    """Parse one CL command; raise :class:`CLParseError` for anything IBM i would refuse.

    :param source: the command text, e.g. ``QSYS/SAVLIB LIB(APPLIB) DEV(*SAVF) SAVF(X/Y)``
    :param registry: command definitions; None checks syntax only
    """
    if not source.strip():
        raise CLParseError("*N", "CPD0030", "*N", "*LIBL")
    try:
        return _Parser(source, registry).parse()
    except CLParseError as exc:
        if exc.command == "*N":
            # A lexing error happens before the name is known; IBM still names the command.
            head = _HEAD_RE.match(source)
            if head and len(head.group(1)) <= NAME_MAX:
                exc.command = head.group(1).upper()
        raise


_HEAD_RE = re.compile(r"^\s*(?:\S+:\s+)?(?:[A-Za-z$#@][\w$#@.]*/)?([A-Za-z$#@][\w$#@.]*)")
