"""Random but well-formed CL through SSH: the node answers like IBM i and never breaks.

Why: every handler meets values nobody thought of (specials, generic names, empty libraries).
An internal error (SIM0002) or a hung call would be a simulator bug that a product test could
mistake for an IBM i answer. Names start with Z so no seeded object is touched.
"""

from __future__ import annotations

import shlex

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ibmi_sim.cl_parser import (
    CLCommand,
    CommandString,
    Element,
    Parameter,
    Qualified,
    QuotedString,
    Word,
    WordKind,
    render,
)
from ibmi_sim.cl_specs import SPECS, P
from ibmi_sim.testing import SimPair

pytestmark = pytest.mark.integration

_Z_NAME = st.from_regex(r"Z[A-Z0-9]{0,5}", fullmatch=True).map(lambda t: Word(t, WordKind.NAME))


def _value(spec: P) -> st.SearchStrategy[Element]:
    specials = (
        st.sampled_from(sorted(spec.specials)).map(lambda t: Word(t, WordKind.SPECIAL))
        if spec.specials
        else st.nothing()
    )
    if spec.kind == "NAME":
        return st.one_of(_Z_NAME, specials)
    if spec.kind == "QUAL":
        return st.builds(lambda a, b: Qualified((a, b)), _Z_NAME, _Z_NAME)
    if spec.kind == "INT":
        return st.one_of(st.integers(0, 500).map(lambda n: Word(str(n), WordKind.NUMBER)), specials)
    if spec.kind == "STR":
        return st.text(alphabet="abc' $()", max_size=10).map(QuotedString)
    if spec.kind == "CMD":
        return _Z_NAME.map(
            lambda n: CommandString(CLCommand("CRTLIB", None, (Parameter("LIB", (n,)),)))
        )
    return st.one_of(_Z_NAME, specials)


@st.composite
def _commands(draw: st.DrawFn) -> str:
    spec = SPECS[draw(st.sampled_from(sorted(SPECS)))]
    keywords = [k for k, p in spec.params.items() if p.required]
    optional = sorted(k for k, p in spec.params.items() if not p.required)
    if optional:
        keywords += draw(st.lists(st.sampled_from(optional), unique=True, max_size=3))
    params = tuple(Parameter(k, (draw(_value(spec.params[k])),)) for k in keywords)
    return render(CLCommand(spec.name, None, params))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(cl=_commands(), node=st.sampled_from(["primary", "backup"]))
def test_random_commands_get_ibm_i_answers(sim_pair: SimPair, cl: str, node: str) -> None:
    done = sim_pair.run(node, f"system {shlex.quote(cl)}", timeout=30)
    assert done.rc in (0, 255), (cl, done)
    assert "SIM0002" not in done.stderr, (cl, done.stderr)
    if done.rc == 0:
        assert done.stderr == ""
    else:
        assert done.stdout == ""
        last = done.stderr.splitlines()[-1]
        assert last[:3] in ("CPF", "SIM"), (cl, done.stderr)
