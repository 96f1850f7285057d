"""The results page's charts as SVG drawn on the server by matplotlib, inlined in the page:
they work offline and need no JavaScript or CDN. Plain data in, an <svg> string out."""

import io
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # matplotlib is imported only where a chart is drawn (it is slow to import)
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# One palette for every chart, so a variant has the same colour in both.
COLOURS = ("#417690", "#e07b39", "#5a9e6f", "#a05195", "#c9a227", "#7f7f7f")


@dataclass(frozen=True)
class ApprovalSeries:
    """One variant's cumulative approval rate by day, with its Wilson band."""

    name: str
    days: list[date]
    rates: list[float]
    lows: list[float]
    highs: list[float]


def _figure(width: float = 7.0, height: float = 3.2) -> "tuple[Figure, Axes]":
    # Imported here: matplotlib costs about a second to import, and only this page needs it.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", color="#dddddd", linewidth=0.8)
    axes.set_axisbelow(True)
    return figure, axes


def _svg(figure: "Figure", element_id: str, title: str) -> str:
    """The figure as an inline <svg> with a stable id and an accessible title; the XML
    prolog and doctype go (they are not allowed inside HTML)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": element_id, "svg.fonttype": "path"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r'width="[\d.]+pt" height="[\d.]+pt"', 'width="100%"', svg, count=1)
    return svg.replace("<svg ", f'<svg id="{element_id}" role="img" aria-label="{title}" ', 1)


def approval_chart(series: list[ApprovalSeries]) -> str:
    """Approval rate so far, by day, per variant, each with its 95% interval shaded."""
    from matplotlib.dates import DateFormatter, DayLocator
    from matplotlib.ticker import PercentFormatter

    # matplotlib's date converter takes the days; its stubs declare numbers only (the ignores below).
    figure, axes = _figure()
    for colour, line in zip(COLOURS * 4, series, strict=False):
        if not line.days:
            continue
        axes.fill_between(line.days, line.lows, line.highs, color=colour, alpha=0.18, linewidth=0)  # type: ignore[arg-type]
        axes.plot(line.days, line.rates, color=colour, marker="o", markersize=4, linewidth=2, label=line.name)  # type: ignore[arg-type]
    axes.set_ylim(0, 1)
    axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    # Whole days only (the points are days); at most about eight labels.
    all_days = [day for line in series for day in line.days]
    span = (max(all_days) - min(all_days)).days if all_days else 0
    if all_days and span == 0:  # one day: give the point some room either side
        axes.set_xlim(all_days[0] - timedelta(days=1), all_days[0] + timedelta(days=1))  # type: ignore[arg-type]
    axes.xaxis.set_major_locator(DayLocator(interval=max(1, span // 8 + 1)))
    axes.xaxis.set_major_formatter(DateFormatter("%b %d"))
    axes.set_ylabel("approved ÷ reviewed")
    if any(line.days for line in series):
        axes.legend(frameon=False, loc="lower right", ncols=min(len(series), 4))
    else:
        axes.text(0.5, 0.5, "no reviews yet", transform=axes.transAxes, ha="center", color="#777777")
    return _svg(figure, "chart-approval", "Approval rate over time per variant, with 95% Wilson intervals")


def cost_chart(names: list[str], costs: list[float | None]) -> str:
    """Cost per 100 messages extracted, per variant (none yet: an empty bar, labelled)."""
    figure, axes = _figure(height=2.6)
    values = [cost or 0.0 for cost in costs]
    bars = axes.bar(names, values, color=[COLOURS[i % len(COLOURS)] for i in range(len(names))], width=0.55)
    labels = [f"${cost:.4f}" if cost is not None else "no messages" for cost in costs]
    axes.bar_label(bars, labels=labels, padding=3, fontsize=9)
    axes.set_ylabel("USD per 100 messages")
    axes.set_ylim(0, max(values + [0.0]) * 1.25 or 1)
    return _svg(figure, "chart-cost", "Cost per 100 messages per variant")
