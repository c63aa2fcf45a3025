"""The simulator's CL parser: IBM's syntax rules, refusals, and properties (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ibmi_sim.cl_parser import (
    CLCommand,
    CLParseError,
    CommandString,
    Element,
    HexString,
    Parameter,
    Qualified,
    QuotedString,
    ValueList,
    Word,
    WordKind,
    parse,
    render,
)
from ibmi_sim.cl_specs import SPECS, P


def _diag(source: str, registry: object = SPECS) -> tuple[str, str]:
    with pytest.raises(CLParseError) as info:
        parse(source, registry)  # type: ignore[arg-type]
    return info.value.command, info.value.diagnostics[0][0]


class TestSyntax:
    def test_qualified_command_and_folding(self) -> None:
        cmd = parse("qsys/savlib lib(applib) dev(*savf) savf(savflib/applib)", SPECS)
        assert cmd.library == "QSYS"
        assert cmd.name == "SAVLIB"
        assert cmd.texts("LIB") == ["APPLIB"]
        assert cmd.qualified("SAVF") == ("SAVFLIB", "APPLIB")
        assert render(cmd) == "QSYS/SAVLIB LIB(APPLIB) DEV(*SAVF) SAVF(SAVFLIB/APPLIB)"

    def test_doubled_apostrophes(self) -> None:
        cmd = parse("CRTSAVF FILE(QGPL/X) TEXT('O''Brien''s file')", SPECS)
        assert cmd.text("TEXT") == "O'Brien's file"
        assert render(cmd) == "CRTSAVF FILE(QGPL/X) TEXT('O''Brien''s file')"

    def test_nested_lists(self) -> None:
        cmd = parse("SAV DEV('/QSYS.LIB/L.LIB/F.FILE') OBJ(('/a' *INCLUDE) ('/b' *OMIT))")
        obj = cmd.values("OBJ")
        assert obj == (
            ValueList((QuotedString("/a"), Word("*INCLUDE", WordKind.SPECIAL))),
            ValueList((QuotedString("/b"), Word("*OMIT", WordKind.SPECIAL))),
        )

    def test_special_value_list(self) -> None:
        cmd = parse("DMSTRSC GROUP(G1) REPAIR(*AUTH *CBU *CRD)")
        assert cmd.texts("REPAIR") == ["*AUTH", "*CBU", "*CRD"]

    def test_positional_values_get_their_keywords(self) -> None:
        cmd = parse("ENDSBS QBATCH *IMMED", SPECS)
        assert render(cmd) == "ENDSBS SBS(QBATCH) OPTION(*IMMED)"

    def test_command_parameter_is_parsed_as_a_command(self) -> None:
        cmd = parse("SBMJOB CMD(SAVLIB LIB(X) DEV(*SAVF) SAVF(A/B)) JOB(SAVX)", SPECS)
        (inner,) = cmd.values("CMD")
        assert isinstance(inner, CommandString)
        assert inner.command.name == "SAVLIB"
        assert cmd.text("JOB") == "SAVX"

    def test_job_name_and_hex(self) -> None:
        cmd = parse("X JOB(123456/SIMUSER/QP0ZSPWP) DATA(X'C1C2')")
        assert cmd.values("JOB") == (
            Qualified(
                (
                    Word("123456", WordKind.NUMBER),
                    Word("SIMUSER", WordKind.NAME),
                    Word("QP0ZSPWP", WordKind.NAME),
                )
            ),
        )
        assert cmd.values("DATA") == (HexString("C1C2"),)

    def test_dollar_is_a_valid_first_character(self) -> None:
        # Why this matters: an unexpanded $APP reaches IBM i as the library name $APP.
        assert parse("SAVLIB LIB($APP) DEV(*SAVF)", SPECS).texts("LIB") == ["$APP"]

    def test_empty_parentheses_are_not_a_value(self) -> None:
        assert _diag("SAVLIB LIB() DEV(*SAVF)") == ("SAVLIB", "CPD0072")


class TestRefusals:
    @pytest.mark.parametrize(
        ("source", "expected"),
        [
            ("CRTSAVF FILE(QGPL/X) TEXT('abc)", ("CRTSAVF", "CPD0013")),
            ("SAVLIB LIB(X DEV(*SAVF)", ("SAVLIB", "CPD0014")),
            ("SAVLIB LIB(X)) DEV(*SAVF)", ("SAVLIB", "CPD0014")),
            ("SAVLIB LIB(VERYLONGNAME1) DEV(*SAVF)", ("SAVLIB", "CPD0074")),
            ("SAVLIB LIB(X) DEV(*SAVF) FOO(1)", ("SAVLIB", "CPD0043")),
            ("SAVLIB LIB(X) LIB(Y) DEV(*SAVF)", ("SAVLIB", "CPD0076")),
            ("SAVLIB DEV(*SAVF)", ("SAVLIB", "CPD0072")),
            ("ENDSBS QBATCH *IMMED 10 *X", ("ENDSBS", "CPD0071")),
            ("ENDSBS SBS(QBATCH) *IMMED", ("ENDSBS", "CPD0085")),
            ("ENDSBS SBS(QBATCH) OPTION(*NOW)", ("ENDSBS", "CPD0086")),
            ("ENDSBS SBS(QBATCH) DELAY(ABC)", ("ENDSBS", "CPD0086")),
            ("NOSUCHCMD A(B)", ("NOSUCHCMD", "CPD0030")),
            ("STRSBS SBSD(A/B/C)", ("STRSBS", "CPD0086")),
            ("CRTLIB LIB(1ABC)", ("CRTLIB", "CPD0078")),
            ("CRTLIB LIB(ÄBC)", ("CRTLIB", "CPD0078")),
            ("CRTLIB LIB(ıBC)", ("CRTLIB", "CPD0078")),
            ("CHKOBJ OBJ(QSYS/X) OBJTYPE(*LIB) MBR(٣)", ("CHKOBJ", "CPD0078")),
            ("CRTLIB LIB(A'B')", ("CRTLIB", "CPD0018")),
        ],
    )
    def test_refused_like_ibm_i(self, source: str, expected: tuple[str, str]) -> None:
        assert _diag(source) == expected

    def test_deep_nesting_is_refused_not_a_crash(self) -> None:
        assert _diag("X A(" + "(" * 5000 + ")" * 5000 + ")", None)[1] == "CPD0087"

    def test_command_name_over_ten_characters(self) -> None:
        assert _diag("ABCDEFGHIJK X(1)", None)[1] == "CPD0074"


# --- properties -----------------------------------------------------------------------------

_NAME = st.from_regex(r"[A-Z$#@][A-Z0-9$#@_.]{0,9}", fullmatch=True)
_SPECIAL = st.from_regex(r"\*[A-Z][A-Z0-9$#@_]{0,9}", fullmatch=True)
_GENERIC = st.from_regex(r"[A-Z$#@][A-Z0-9$#@_.]{0,8}\*", fullmatch=True)
_NUMBER = st.one_of(
    st.integers(0, 10**9).map(str), st.decimals(0, 1000, places=2).map(lambda d: f"{d:f}")
)
_WORD = st.one_of(
    _NAME.map(lambda t: Word(t, WordKind.NAME)),
    _SPECIAL.map(lambda t: Word(t, WordKind.SPECIAL)),
    _GENERIC.map(lambda t: Word(t, WordKind.GENERIC)),
    _NUMBER.map(lambda t: Word(t, WordKind.NUMBER)),
)
_QUALIFIED = st.builds(
    lambda first, rest: Qualified((first, *rest)),
    st.one_of(
        _NAME.map(lambda t: Word(t, WordKind.NAME)),
        _SPECIAL.map(lambda t: Word(t, WordKind.SPECIAL)),
        st.integers(0, 999999).map(lambda n: Word(f"{n:06d}", WordKind.NUMBER)),
    ),
    st.lists(_NAME.map(lambda t: Word(t, WordKind.NAME)), min_size=1, max_size=2),
)
_SIMPLE: st.SearchStrategy[Element] = st.one_of(
    _WORD,
    _QUALIFIED,
    st.text(max_size=30).map(QuotedString),
    st.binary(max_size=6).map(lambda b: HexString(b.hex().upper())),
)
_ELEMENT = st.recursive(
    _SIMPLE,
    lambda children: st.lists(children, max_size=4).map(lambda xs: ValueList(tuple(xs))),
    max_leaves=12,
)
_COMMANDS = st.builds(
    lambda name, lib, positional, keyword: CLCommand(
        name, lib, tuple(Parameter(None, (e,)) for e in positional) + tuple(keyword)
    ),
    _NAME,
    st.none() | _NAME,
    st.lists(_ELEMENT, max_size=3),
    st.lists(
        st.builds(lambda k, vs: Parameter(k, tuple(vs)), _NAME, st.lists(_ELEMENT, max_size=4)),
        max_size=5,
    ),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_COMMANDS)
def test_render_then_parse_is_stable(command: CLCommand) -> None:
    text = render(command)
    parsed = parse(text)
    assert parsed == command
    assert render(parsed) == text


def _value_for(spec: P) -> st.SearchStrategy[Element]:
    names = _NAME.map(lambda t: Word(t, WordKind.NAME))
    if spec.kind == "NAME":
        choices = [names]
        if spec.specials:
            choices.append(
                st.sampled_from(sorted(spec.specials)).map(lambda t: Word(t, WordKind.SPECIAL))
            )
        return st.one_of(*choices)
    if spec.kind == "QUAL":
        return st.builds(lambda a, b: Qualified((a, b)), names, names)
    if spec.kind == "INT":
        return st.integers(0, 99999).map(lambda n: Word(str(n), WordKind.NUMBER))
    if spec.kind == "STR":
        return st.text(max_size=20).map(QuotedString)
    if spec.kind == "CMD":
        return names.map(
            lambda n: CommandString(CLCommand("CRTLIB", None, (Parameter("LIB", (n,)),)))
        )
    return _ELEMENT


@st.composite
def _spec_commands(draw: st.DrawFn) -> CLCommand:
    spec = SPECS[draw(st.sampled_from(sorted(SPECS)))]
    keywords = [k for k, p in spec.params.items() if p.required]
    optional = [k for k, p in spec.params.items() if not p.required]
    if optional:
        keywords += draw(st.lists(st.sampled_from(optional), unique=True, max_size=4))
    params = []
    for keyword in keywords:
        definition = spec.params[keyword]
        count = draw(st.integers(1, min(definition.max_values, 3)))
        values = draw(st.lists(_value_for(definition), min_size=count, max_size=count))
        params.append(Parameter(keyword, tuple(values)))
    # IBM's commands live in QSYS (found through *LIBL); the product's only in its library.
    library = draw(st.none() | st.just("QSYS")) if spec.library == "QSYS" else spec.library
    return CLCommand(spec.name, library, tuple(params))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_spec_commands())
def test_valid_commands_of_every_spec_round_trip(command: CLCommand) -> None:
    text = render(command)
    assert parse(text, SPECS) == command
    assert render(parse(text, SPECS)) == text


_GARBAGE = st.one_of(
    st.text(max_size=80),
    st.text(alphabet="ABCxyz$*/()' \"09:.-+\t\n", max_size=80),
    _COMMANDS.map(render).flatmap(
        lambda s: st.integers(0, max(0, len(s) - 1)).map(lambda i: s[:i] + s[i + 1 :])
    ),
)


@settings(max_examples=300)
@given(_GARBAGE, st.booleans())
def test_garbage_never_crashes(source: str, with_registry: bool) -> None:
    try:
        parse(source, SPECS if with_registry else None)
    except CLParseError as exc:
        assert exc.diagnostics
        assert exc.command
