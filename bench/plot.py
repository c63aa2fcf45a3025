"""A line chart as a hand-written SVG (matplotlib is not among the project's packages).

Issue 7 figure 6: how the figures change from 5 to 50 to 200 groups. One chart, x = groups
(log scale), one line per series, each point labelled with its value.
"""

from __future__ import annotations

import math
from html import escape
from pathlib import Path

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd")


def line_chart(
    path: Path,
    title: str,
    x_label: str,
    y_label: str,
    series: dict[str, list[tuple[float, float]]],
) -> Path:
    """Write ``series`` (name -> [(x, y), ...]) as an SVG line chart at ``path``."""
    width, height, left, right, top, bottom = 760, 440, 70, 190, 40, 60
    points = [p for values in series.values() for p in values]
    if not points:
        path.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
        return path
    xs = [math.log10(max(x, 1e-9)) for x, _ in points]
    x_min, x_max = min(xs), max(xs)
    if x_max - x_min < 1e-9:
        x_min, x_max = x_min - 0.5, x_max + 0.5
    y_max = max(y for _, y in points) * 1.1 or 1.0

    def sx(x: float) -> float:
        return left + (math.log10(max(x, 1e-9)) - x_min) / (x_max - x_min) * (width - left - right)

    def sy(y: float) -> float:
        return height - bottom - y / y_max * (height - top - bottom)

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}'"
        " font-family='sans-serif' font-size='12'>",
        f"<rect width='{width}' height='{height}' fill='white'/>",
        f"<text x='{width / 2}' y='22' text-anchor='middle' font-size='15'>{escape(title)}</text>",
        f"<line x1='{left}' y1='{height - bottom}' x2='{width - right}' y2='{height - bottom}'"
        " stroke='black'/>",
        f"<line x1='{left}' y1='{top}' x2='{left}' y2='{height - bottom}' stroke='black'/>",
        f"<text x='{(left + width - right) / 2}' y='{height - 15}' text-anchor='middle'>"
        f"{escape(x_label)}</text>",
        f"<text x='18' y='{(top + height - bottom) / 2}' text-anchor='middle'"
        f" transform='rotate(-90 18 {(top + height - bottom) / 2})'>{escape(y_label)}</text>",
    ]
    for i in range(6):
        value = y_max * i / 5
        y = sy(value)
        parts.append(
            f"<line x1='{left}' y1='{y:.1f}' x2='{width - right}' y2='{y:.1f}' stroke='#ddd'/>"
            f"<text x='{left - 6}' y='{y + 4:.1f}' text-anchor='end'>{value:.0f}</text>"
        )
    for x in sorted({x for x, _ in points}):
        parts.append(
            f"<text x='{sx(x):.1f}' y='{height - bottom + 18}' text-anchor='middle'>{x:g}</text>"
        )
    for index, (name, values) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        ordered = sorted(values)
        line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in ordered)
        parts.append(f"<polyline points='{line}' fill='none' stroke='{colour}' stroke-width='2'/>")
        for x, y in ordered:
            parts.append(
                f"<circle cx='{sx(x):.1f}' cy='{sy(y):.1f}' r='3' fill='{colour}'/>"
                f"<text x='{sx(x) + 5:.1f}' y='{sy(y) - 6:.1f}' fill='{colour}'>{y:.0f}</text>"
            )
        legend_y = top + 10 + index * 20
        parts.append(
            f"<rect x='{width - right + 15}' y='{legend_y - 9}' width='12' height='12'"
            f" fill='{colour}'/><text x='{width - right + 32}' y='{legend_y + 1}'>"
            f"{escape(name)}</text>"
        )
    parts.append("</svg>")
    path.write_text("\n".join(parts))
    return path
