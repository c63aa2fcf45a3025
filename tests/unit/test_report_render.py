"""The run report, opened the way a person opens it: headless Chromium loads the HTML file
(no network: the page is self-contained), takes a screenshot and dumps the DOM it built.

Checked: the screenshot is a real 1280x1600 picture with the timeline's colours in it (the
SVG was laid out and painted, not only parsed), and the DOM holds the SVG timeline with one
row per phase and one row per replication group, and the per-group table. The screenshot is
kept in the test's folder and its path printed (`pytest -rA` or `-s` shows it).

Chromium comes from Debian (`chromium`); scripts/setup-system.sh installs it, and `make test`
runs that script on a fresh machine. If it is missing here, this test runs the script.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from test_report import GROUPS, full_report

from ibmi_resync.report import render_html

ROOT = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 1280, 1600
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        # The same script `make test` runs first: apt-get install chromium (as root).
        setup = subprocess.run(
            ["bash", str(ROOT / "scripts" / "setup-system.sh")],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        found = shutil.which("chromium")
        assert found, f"Chromium could not be installed:\n{setup.stdout}\n{setup.stderr}"
    return found


def _run(chromium: str, profile: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", *arguments],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "HOME": str(profile)},
    )


def _pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB(A) rows of an 8-bit, non-interlaced PNG (what Chromium writes)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, chunks, header = 8, [], b""
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        data = png[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = data
        elif kind == b"IDAT":
            chunks.append(data)
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                pa, pb, pc = abs(guess - left), abs(guess - up), abs(guess - corner)
                near = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + near) & 0xFF
        rows.append(bytes(line if channels == 3 else _rgb(line)))
        previous = line
    return width, height, rows


def _rgb(line: bytearray) -> bytearray:
    out = bytearray()
    for i in range(0, len(line), 4):
        out += line[i : i + 3]
    return out


def _count(rows: list[bytes], colour: str) -> int:
    """Pixels of exactly `colour` (bar fills are solid: no anti-aliasing inside a bar)."""
    want = bytes.fromhex(colour.lstrip("#"))
    return sum(row.count(want) for row in rows)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report-render")
    path = folder / "report.html"
    path.write_text(render_html(full_report()), encoding="utf-8")
    return path


def test_chromium_paints_the_report_with_its_timeline(
    chromium: str, page: Path, tmp_path: Path
) -> None:
    screenshot = page.parent / "report.png"
    done = _run(
        chromium,
        tmp_path / "profile",
        f"--screenshot={screenshot}",
        f"--window-size={WIDTH},{HEIGHT}",
        page.as_uri(),
    )
    assert screenshot.exists(), f"no screenshot (exit {done.returncode}):\n{done.stderr[-3000:]}"
    print(f"\nreport screenshot: {screenshot}")
    data = screenshot.read_bytes()
    assert len(data) > 30_000, f"a {len(data)}-byte screenshot is a blank page"
    width, height, rows = _pixels(data)
    assert (width, height) == (WIDTH, HEIGHT)
    # Bars of "mark positions" (phase 2, #8250df) and "save" (phase 3, #bf3989) were painted:
    # one phase row and three group rows each, a few hundred pixels at the least.
    assert _count(rows, "#8250df") > 500
    assert _count(rows, "#bf3989") > 500


def test_chromium_builds_the_svg_timeline_with_a_row_per_group(
    chromium: str, page: Path, tmp_path: Path
) -> None:
    done = _run(chromium, tmp_path / "profile", "--dump-dom", page.as_uri())
    dom = done.stdout
    assert done.returncode == 0 and "</html>" in dom, done.stderr[-3000:]
    svg = re.search(r'<svg[^>]*id="timeline".*?</svg>', dom, re.S)
    assert svg, "the timeline SVG is not in the DOM"
    timeline = svg.group(0)
    assert re.findall(r'<g class="row group-row" data-group="([^"]+)"', timeline) == sorted(GROUPS)
    phases = re.findall(r'<g class="row phase-row" data-phase="([0-9]+)"', timeline)
    assert phases == [str(phase) for phase in range(12)]
    assert timeline.count('class="outage"') == 1
    # Each task's bar is in its phase's row; a group's task is in its group's row as well.
    bars = full_report()["timeline"]
    grouped = [bar for bar in bars if bar["group"]]
    assert timeline.count('<rect class="bar"') == len(bars) + len(grouped)
    table = re.search(r'<table class="groups">.*?</table>', dom, re.S)
    assert table and all(f'<tr data-group="{group}">' in table.group(0) for group in GROUPS)
