"""Tests for ibmi_resync.names: *NAME validation, qualified names, IFS paths and DLO folders.

The rules come from the module docstring and ibmi.md (CL "Naming within commands", table *NAME):
first character A-Z, $, # or @; then A-Z, 0-9, $, #, @, _ or period; at most 10 characters;
lower case folds to upper case. Every refusal must be an IbmiInputError that names the field.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ibmi_resync.names import (
    IFS_PATH_MAX,
    NAME_MAX,
    DloFolder,
    IbmiInputError,
    IfsPath,
    Name,
    QualifiedJobName,
    QualifiedName,
    is_system_library,
    require_printable,
    unique_names,
)

NAME_PATTERN = re.compile(r"^[A-Z$#@][A-Z0-9$#@_.]{0,9}$")


def assert_refused(
    excinfo: pytest.ExceptionInfo[IbmiInputError], field: str, value: object
) -> None:
    """The contract of every refusal: right type, right field, field in the message, value kept."""
    error = excinfo.value
    assert type(error) is IbmiInputError
    assert error.field == field
    assert field in str(error)
    assert error.value is value
    assert error.rule  # a non-empty human rule


# ---- Name: table-driven ---------------------------------------------------------------------

VALID_NAMES = [
    ("applib", "APPLIB"),
    ("AppLib", "APPLIB"),
    ("APPLIB", "APPLIB"),
    ("$APP", "$APP"),
    ("#LIB", "#LIB"),
    ("@X", "@X"),
    ("A.B_C", "A.B_C"),
    ("$", "$"),
    ("#", "#"),
    ("@", "@"),
    ("Q", "Q"),
    ("a1$#@_.z9", "A1$#@_.Z9"),
    ("abcdefghij", "ABCDEFGHIJ"),  # exactly NAME_MAX characters
    ("  qgpl  ", "QGPL"),  # surrounding blanks are stripped, as the CL prompt does
]


@pytest.mark.parametrize(("value", "expected"), VALID_NAMES)
def test_name_accepts_and_folds(value: str, expected: str) -> None:
    name = Name(value, field="library")
    assert name == expected
    assert isinstance(name, Name)
    assert isinstance(name, str)
    assert type(str(name)) is str and str(name) == expected


INVALID_NAMES = [
    pytest.param("", id="empty"),
    pytest.param("   ", id="only-blanks"),
    pytest.param("ABCDEFGHIJK", id="11-chars"),
    pytest.param("abcdefghijk", id="11-chars-lower"),
    pytest.param("1ABC", id="leading-digit"),
    pytest.param("_ABC", id="leading-underscore"),
    pytest.param(".ABC", id="leading-period"),
    pytest.param("*ALL", id="special-ALL"),
    pytest.param("*LIBL", id="special-LIBL"),
    pytest.param("*", id="lone-asterisk"),
    pytest.param("A*", id="generic-asterisk"),
    pytest.param("A B", id="blank-inside"),
    pytest.param("A\u00a0B", id="no-break-space-inside"),
    pytest.param("\u00a0APPLIB\u00a0", id="no-break-space-around"),
    pytest.param("A'B", id="apostrophe"),
    pytest.param("'AB'", id="apostrophe-quoted"),
    pytest.param('"AB"', id="double-quoted-name"),
    pytest.param("A(B", id="open-paren"),
    pytest.param("A)B", id="close-paren"),
    pytest.param("A;B", id="semicolon"),
    pytest.param("A\nB", id="newline"),
    pytest.param("APPLIB\n", id="trailing-newline"),  # must not be stripped silently
    pytest.param("\tAPPLIB", id="leading-tab"),
    pytest.param("A\tB", id="tab"),
    pytest.param("A\x00B", id="NUL"),
    pytest.param("A\x7fB", id="DEL"),
    pytest.param("A\u200bB", id="zero-width-space"),
    pytest.param("A\u2028B", id="line-separator"),
    pytest.param("\ud800", id="lone-surrogate"),
    pytest.param("É", id="unicode-E-acute"),
    pytest.param("ÉCOLE", id="unicode-leading"),
    pytest.param("APPÉ", id="unicode-inside"),
    pytest.param("ÄPFEL", id="unicode-umlaut"),
    pytest.param("\uff21PP", id="fullwidth-A"),
    pytest.param("\u212aLIB", id="kelvin-sign"),
    pytest.param("A-B", id="hyphen"),
    pytest.param("A/B", id="slash"),
    pytest.param("A,B", id="comma"),
    pytest.param("A%B", id="percent"),
    pytest.param("A&B", id="ampersand"),
    pytest.param("A|B", id="pipe"),
    pytest.param("$(X)", id="shell-substitution"),
    pytest.param("`X`", id="backtick"),
]


@pytest.mark.parametrize("value", INVALID_NAMES)
def test_name_refuses(value: str) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        Name(value, field="plan.libraries[3]")
    assert_refused(excinfo, "plan.libraries[3]", value)


@pytest.mark.parametrize(
    "value",
    [None, 1, 1.5, True, b"APPLIB", bytearray(b"APPLIB"), ["APPLIB"], ("APPLIB",), object()],
    ids=lambda value: type(value).__name__,
)
def test_name_refuses_non_strings(value: object) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        Name(value, field="subsystem")
    assert_refused(excinfo, "subsystem", value)
    assert "string" in excinfo.value.rule


def test_name_default_field_is_name() -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        Name("1BAD")
    assert_refused(excinfo, "name", "1BAD")


def test_name_of_a_name_is_the_same_object() -> None:
    name = Name("applib")
    assert Name(name, field="other") is name


@pytest.mark.parametrize(
    ("value", "rule_fragment"),
    [
        ("", "empty"),
        ("ABCDEFGHIJK", f"at most {NAME_MAX}"),
        ("*ALL", "special values"),
        ("1ABC", "start with"),
    ],
)
def test_name_rule_explains_the_refusal(value: str, rule_fragment: str) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        Name(value, field="library")
    assert rule_fragment in excinfo.value.rule
    assert rule_fragment in str(excinfo.value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("straße", id="sharp-s"),  # str.upper() -> "STRASSE"
        pytest.param("claſs", id="long-s"),  # -> "CLASS"
        pytest.param("ıbmlib", id="dotless-i"),  # -> "IBMLIB"
        pytest.param("ﬁle", id="fi-ligature"),  # -> "FILE"
    ],
)
def test_name_refuses_non_ascii_letters_that_upper_case_to_ascii(value: str) -> None:
    """Regression: Unicode upper-casing turned names nobody typed into valid ASCII names."""
    assert value.upper().isascii()  # the trap is real: Python would fold these to ASCII
    with pytest.raises(IbmiInputError) as excinfo:
        Name(value, field="library")
    assert_refused(excinfo, "library", value)


# ---- Name: properties ------------------------------------------------------------------------

NAMEISH_ALPHABET = "aAbBqQzZ09$#@_.*'\"()/; \t\n\x00É"
FIELDS = st.sampled_from(["name", "library", "plan.libraries[0]", "job.user", "x"])


@settings(max_examples=3000, deadline=None)
@given(
    value=st.one_of(
        st.text(),
        st.text(alphabet=NAMEISH_ALPHABET, max_size=14),
        st.from_regex(r"[A-Za-z$#@][A-Za-z0-9$#@_.]{0,11}", fullmatch=True),
        st.characters().map(lambda char: char * 3),
    ),
    field=FIELDS,
)
def test_name_property_valid_or_ibmi_input_error(value: str, field: str) -> None:
    """Any string becomes a Name matching the *NAME pattern or raises IbmiInputError; never else."""
    try:
        name = Name(value, field=field)
    except IbmiInputError as error:
        assert error.field == field
        assert field in str(error)
        return
    assert isinstance(name, Name)
    assert NAME_PATTERN.match(name), name
    assert value.isascii()
    assert name == value.strip().upper()


@settings(max_examples=2000, deadline=None)
@given(value=st.from_regex(r"[a-zA-Z$#@][a-zA-Z0-9$#@_.]{0,9}", fullmatch=True))
def test_name_property_every_valid_name_is_accepted_upper_cased(value: str) -> None:
    assert Name(value) == value.upper()
    assert Name(value.lower()) == Name(value.upper())


@settings(max_examples=500, deadline=None)
@given(
    value=st.one_of(
        st.none(), st.integers(), st.floats(), st.binary(), st.lists(st.text(max_size=3))
    ),
    field=FIELDS,
)
def test_name_property_non_strings_are_refused(value: object, field: str) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        Name(value, field=field)
    assert excinfo.value.field == field
    assert field in str(excinfo.value)


# ---- require_printable -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["hello", "", " ", "É", "日本語", "\u00a0", "O'Brien $(x) `y`"], ids=repr
)
def test_require_printable_returns_the_value_unchanged(value: str) -> None:
    assert require_printable("text", value) is value


@pytest.mark.parametrize(
    "char",
    [
        "\x00",
        "\t",
        "\n",
        "\r",
        "\x1b",
        "\x7f",
        "\x85",  # NEL, Cc
        "\u00ad",  # soft hyphen, Cf
        "\u200b",  # zero width space, Cf
        "\ufeff",  # BOM, Cf
        "\U000e0001",  # language tag, Cf
        "\u2028",  # line separator (Zl), refused explicitly
        "\u2029",  # paragraph separator (Zp), refused explicitly
        "\ud800",  # lone surrogate, Cs
        "\ue000",  # private use, Co
        "\u0378",  # unassigned, Cn
    ],
    ids=lambda char: f"U+{ord(char):04X}",
)
def test_require_printable_refuses_control_and_unassigned(char: str) -> None:
    value = f"ok{char}ok"
    with pytest.raises(IbmiInputError) as excinfo:
        require_printable("text", value)
    assert_refused(excinfo, "text", value)


@settings(max_examples=400)
@given(st.text(alphabet=st.characters(max_codepoint=0x3000), max_size=12))
def test_require_printable_refuses_exactly_category_c_and_the_separators(value: str) -> None:
    """ASCII text is checked with one regex, the rest per character: both must refuse the
    same characters as the per-character rule the docstring gives."""
    refused = any(
        unicodedata.category(char).startswith("C") or char in "\u2028\u2029" for char in value
    )
    if refused:
        with pytest.raises(IbmiInputError):
            require_printable("text", value)
    else:
        assert require_printable("text", value) is value


def test_require_printable_refuses_non_strings() -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        require_printable("text", 42)
    assert_refused(excinfo, "text", 42)


# ---- QualifiedName -----------------------------------------------------------------------


def test_qualified_name_renders_library_slash_object() -> None:
    savf = QualifiedName("resync", "applib", field="save_file")
    assert str(savf) == "RESYNC/APPLIB"
    assert savf.library == "RESYNC" and isinstance(savf.library, Name)
    assert savf.name == "APPLIB" and isinstance(savf.name, Name)
    assert repr(savf) == "QualifiedName('RESYNC', 'APPLIB')"


@pytest.mark.parametrize(
    ("library", "name", "expected"),
    [
        ("resync", "applib", "/QSYS.LIB/RESYNC.LIB/APPLIB.FILE"),
        ("$APP", "#SAVF", "/QSYS.LIB/$APP.LIB/#SAVF.FILE"),
        ("QGPL", "A.B_C", "/QSYS.LIB/QGPL.LIB/A.B_C.FILE"),
    ],
)
def test_qualified_name_save_file_path(library: str, name: str, expected: str) -> None:
    assert QualifiedName(library, name).save_file_path() == expected


@pytest.mark.parametrize(
    ("library", "name", "field"),
    [
        ("1LIB", "OK", "save_file.library"),
        ("OK", "*ALL", "save_file.name"),
        ("", "OK", "save_file.library"),
        ("OK", "A/B", "save_file.name"),
        (None, "OK", "save_file.library"),
        ("OK", "ABCDEFGHIJK", "save_file.name"),
    ],
)
def test_qualified_name_refuses_each_part_with_its_own_field(
    library: object, name: object, field: str
) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        QualifiedName(library, name, field="save_file")
    bad = library if field.endswith("library") else name
    assert_refused(excinfo, field, bad)


def test_qualified_name_default_field() -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        QualifiedName("OK", "1X")
    assert excinfo.value.field == "name.name"


def test_qualified_name_equality_and_hash() -> None:
    first = QualifiedName("resync", "savf1")
    second = QualifiedName("RESYNC", "SAVF1")
    other = QualifiedName("RESYNC", "SAVF2")
    assert first == second
    assert hash(first) == hash(second)
    assert first != other
    assert first != "RESYNC/SAVF1"  # not equal to its rendering: types do not mix
    assert len({first, second, other}) == 2


# ---- QualifiedJobName --------------------------------------------------------------------


def test_qualified_job_name_parse() -> None:
    job = QualifiedJobName.parse("123456/qsecofr/qpadev0001")
    assert job.number == "123456"
    assert job.user == "QSECOFR"
    assert job.name == "QPADEV0001"
    assert str(job) == "123456/QSECOFR/QPADEV0001"
    assert repr(job) == "QualifiedJobName('123456/QSECOFR/QPADEV0001')"


def test_qualified_job_name_parse_strips_surrounding_blanks() -> None:
    assert str(QualifiedJobName.parse("  000042/resync/rs$applib  ")) == "000042/RESYNC/RS$APPLIB"


def test_qualified_job_name_equality_and_hash() -> None:
    first = QualifiedJobName("000001", "resync", "job1")
    second = QualifiedJobName.parse("000001/RESYNC/JOB1")
    assert first == second
    assert hash(first) == hash(second)
    assert first != QualifiedJobName("000002", "RESYNC", "JOB1")
    assert first != "000001/RESYNC/JOB1"


@settings(max_examples=2000, deadline=None)
@given(
    number=st.from_regex(r"[0-9]{6}", fullmatch=True),
    user=st.from_regex(r"[a-zA-Z$#@][a-zA-Z0-9$#@_.]{0,9}", fullmatch=True),
    name=st.from_regex(r"[a-zA-Z$#@][a-zA-Z0-9$#@_.]{0,9}", fullmatch=True),
)
def test_qualified_job_name_round_trip(number: str, user: str, name: str) -> None:
    job = QualifiedJobName(number, user, name)
    text = str(job)
    assert text == f"{number}/{user.upper()}/{name.upper()}"
    parsed = QualifiedJobName.parse(text)
    assert parsed == job
    assert str(parsed) == text
    assert QualifiedJobName.parse(f"{number}/{user}/{name}") == job


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("", "job"),
        ("123456", "job"),
        ("123456/USER", "job"),
        ("123456/USER/JOB/X", "job"),
        ("12345/USER/JOB", "job.number"),
        ("1234567/USER/JOB", "job.number"),
        ("ABCDEF/USER/JOB", "job.number"),
        ("12345A/USER/JOB", "job.number"),
        ("\u0661\u0662\u0663\u0664\u0665\u0666/USER/JOB", "job.number"),  # Arabic-Indic digits
        ("123456 /USER/JOB", "job.number"),
        ("123456//JOB", "job.user"),
        ("123456/*ALL/JOB", "job.user"),
        ("123456/1USER/JOB", "job.user"),
        ("123456/USER/", "job.name"),
        ("123456/USER/JOB NAME", "job.name"),
        ("123456/USER/ABCDEFGHIJK", "job.name"),
        ("123456/USER/JOB\n", "job"),
        (None, "job"),
        (123456, "job"),
    ],
)
def test_qualified_job_name_parse_refuses(text: object, field: str) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        QualifiedJobName.parse(text)
    error = excinfo.value
    assert type(error) is IbmiInputError
    assert error.field == field
    assert field in str(error)


def test_qualified_job_name_parse_custom_field() -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        QualifiedJobName.parse("12345/USER/JOB", field="submitted_job")
    assert excinfo.value.field == "submitted_job.number"


@pytest.mark.parametrize("number", [123456, None, "12345", " 123456"])
def test_qualified_job_name_constructor_refuses_number(number: object) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        QualifiedJobName(number, "USER", "JOB")  # type: ignore[arg-type]
    assert_refused(excinfo, "job.number", number)


# ---- IfsPath -----------------------------------------------------------------------------

VALID_IFS_PATHS = [
    ("/home/app", "/home/app"),
    ("//a//b/", "/a/b"),
    ("/a/b/", "/a/b"),
    ("  /home/app  ", "/home/app"),
    ("/QOpenSys/etc/app", "/QOpenSys/etc/app"),  # case kept: QOpenSys is case sensitive
    ("/home/O'Brien $APP `x` (1)", "/home/O'Brien $APP `x` (1)"),  # quoting is cl_string's job
    ("/home/café/日本", "/home/café/日本"),
    ("/home/QSYS.LIB/x", "/home/QSYS.LIB/x"),  # only the first segment names a file system
    ("/QSYS.LIBX/a", "/QSYS.LIBX/a"),
    ("/a..b/.c/d.", "/a..b/.c/d."),  # dots inside a segment are not . or ..
    ("/" + "a" * (IFS_PATH_MAX - 1), "/" + "a" * (IFS_PATH_MAX - 1)),
]


@pytest.mark.parametrize(("value", "expected"), VALID_IFS_PATHS, ids=lambda v: repr(v)[:40])
def test_ifs_path_accepts_and_normalises(value: str, expected: str) -> None:
    path = IfsPath(value, field="ifs_paths[0]")
    assert path == expected
    assert isinstance(path, IfsPath)


def test_ifs_path_of_an_ifs_path_is_the_same_object() -> None:
    path = IfsPath("/home/app")
    assert IfsPath(path, field="x") is path


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("home/app", id="relative"),
        pytest.param("./home", id="dot-relative"),
        pytest.param("", id="empty"),
        pytest.param("/", id="root"),
        pytest.param("///", id="root-slashes"),
        pytest.param("/..", id="dotdot-only"),
        pytest.param("/a/../b", id="dotdot"),
        pytest.param("/a/..", id="trailing-dotdot"),
        pytest.param("/a/./b", id="dot"),
        pytest.param("/QSYS.LIB/APPLIB.LIB", id="qsys-lib"),
        pytest.param("/qsys.lib/applib.lib/x.file", id="qsys-lib-lower"),
        pytest.param("/QSYS.LIB", id="qsys-lib-alone"),
        pytest.param("//QSYS.LIB//A.LIB", id="qsys-lib-double-slash"),
        pytest.param("/QDLS/FLR1", id="qdls"),
        pytest.param("/qdls", id="qdls-lower"),
        pytest.param("/a /b", id="segment-trailing-blank"),
        pytest.param("/a/ b", id="segment-leading-blank"),
        pytest.param("/a\nb", id="newline"),
        pytest.param("/a\tb", id="tab"),
        pytest.param("/a\x00b", id="NUL"),
        pytest.param("/a\u2028b", id="line-separator"),
        pytest.param("/" + "a" * IFS_PATH_MAX, id="too-long"),
        pytest.param(None, id="None"),
        pytest.param(b"/home", id="bytes"),
    ],
)
def test_ifs_path_refuses(value: object) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        IfsPath(value, field="ifs_paths[2]")
    assert_refused(excinfo, "ifs_paths[2]", value)


@settings(max_examples=1000, deadline=None)
@given(value=st.one_of(st.text(), st.text(alphabet="/a. Q\n", max_size=12)))
def test_ifs_path_property_normal_form(value: str) -> None:
    try:
        path = IfsPath(value)
    except IbmiInputError as error:
        assert error.field == "ifs_path"
        return
    assert path.startswith("/")
    assert "//" not in path
    assert not path.endswith("/")
    segments = path.split("/")[1:]
    assert all(segment not in {"", ".", ".."} for segment in segments)
    assert segments[0].upper() not in {"QSYS.LIB", "QDLS"}
    assert IfsPath(str(path)) == path  # normalising is idempotent


# ---- DloFolder ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("flr1", "FLR1"),
        ("FLR1/SUB", "FLR1/SUB"),
        ("/flr1/sub/", "FLR1/SUB"),
        ("  FLR1  ", "FLR1"),
        ("FOLDER01.TXT", "FOLDER01.TXT"),
        ("A-B", "A-B"),
        ("$FLR", "$FLR"),
        ("_X", "_X"),
        ("0DOCS", "0DOCS"),
        ("A.B", "A.B"),
        ("/".join(["ABCDEFG"] * 8), "/".join(["ABCDEFG"] * 8)),  # exactly 63 characters
    ],
)
def test_dlo_folder_accepts(value: str, expected: str) -> None:
    folder = DloFolder(value, field="dlo_folders[0]")
    assert folder == expected
    assert isinstance(folder, DloFolder)
    assert DloFolder(folder) is folder


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("/", id="slash"),
        pytest.param("FOLDER012", id="9-chars"),
        pytest.param("A.ABCD", id="4-char-extension"),
        pytest.param("A.B.C", id="two-extensions"),
        pytest.param("A.", id="empty-extension"),
        pytest.param("-A", id="leading-hyphen"),
        pytest.param(".A", id="leading-period"),
        pytest.param("A B", id="blank"),
        pytest.param("A//B", id="empty-segment"),
        pytest.param("A'B", id="apostrophe"),
        pytest.param("É", id="unicode"),
        pytest.param("A\nB", id="newline"),
        pytest.param("/".join(["ABCDEFGH"] * 8), id="too-long-71"),
        pytest.param(None, id="None"),
    ],
)
def test_dlo_folder_refuses(value: object) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        DloFolder(value, field="dlo_folders[1]")
    assert_refused(excinfo, "dlo_folders[1]", value)


def test_dlo_folder_refuses_non_ascii_that_upper_cases_to_ascii() -> None:
    """Regression: 'straße' was accepted as 'STRASSE' through str.upper()."""
    with pytest.raises(IbmiInputError) as excinfo:
        DloFolder("straße", field="dlo_folders[0]")
    assert_refused(excinfo, "dlo_folders[0]", "straße")


# ---- is_system_library -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("library", "expected"),
    [
        ("QSYS", True),
        ("QGPL", True),
        ("QUSRSYS", True),
        ("QSYS2", True),
        ("QTEMP", True),
        ("qgpl", True),  # case-insensitive
        ("#COBLIB", True),
        ("#LIBRARY", True),
        ("SYSIBM", True),
        ("SYSIBMADM", True),
        ("SYSPROC", True),
        ("SYSTOOLS", True),
        ("systools", True),
        ("APPLIB", False),
        ("$APP", False),
        ("@X", False),
        # Questionable but deliberate in the code: the SYS* rule is an exact list of four IBM
        # schemas, not a prefix, although _user_library's message says "SYS*". A user library
        # named SYSTEMX (or SYS, SYSIBMX) is therefore treated as a user library.
        ("SYSTEMX", False),
        ("SYS", False),
        ("SYSIBMX", False),
        # Any Q* name is treated as IBM-supplied (IBM reserves the Q prefix), so a customer
        # library that happens to start with Q (QUALITY) can never be cleared or restored.
        ("QUALITY", True),
    ],
)
def test_is_system_library(library: str, expected: bool) -> None:
    assert is_system_library(library) is expected


# ---- unique_names ------------------------------------------------------------------------


def test_unique_names_validates_and_keeps_order() -> None:
    result = unique_names(["applib", "$app", "#lib"], field="libraries")
    assert result == ("APPLIB", "$APP", "#LIB")
    assert all(isinstance(name, Name) for name in result)
    assert isinstance(result, tuple)


def test_unique_names_accepts_any_iterable_and_empty() -> None:
    assert unique_names((name for name in ["a", "b"]), field="libraries") == ("A", "B")
    assert unique_names([], field="libraries") == ()


@pytest.mark.parametrize(
    ("values", "index", "first"),
    [
        (["applib", "APPLIB"], 1, 0),
        (["A", "B", "C", " b "], 3, 1),
        (["X", "Y", "x"], 2, 0),
    ],
)
def test_unique_names_duplicate_names_the_index(values: list[str], index: int, first: int) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        unique_names(values, field="libraries")
    error = excinfo.value
    assert error.field == f"libraries[{index}]"
    assert error.value == values[index]
    assert f"duplicate of libraries[{first}]" in str(error)


def test_unique_names_invalid_element_names_the_index() -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        unique_names(["APPLIB", "1BAD"], field="libraries")
    assert_refused(excinfo, "libraries[1]", "1BAD")


@pytest.mark.parametrize("values", ["ABC", "", "APPLIB"])
def test_unique_names_refuses_a_bare_string(values: str) -> None:
    """Regression: a bare str was iterated per character: unique_names('ABC') == ('A','B','C')."""
    with pytest.raises(IbmiInputError) as excinfo:
        unique_names(values, field="libraries")
    assert_refused(excinfo, "libraries", values)
