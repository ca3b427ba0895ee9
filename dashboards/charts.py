"""Chart shapes more than one page draws."""

import plotly.express as px
import plotly.graph_objects as go
import polars as pl


def monthly_bars(
    frame: pl.DataFrame, y: str, color: str, labels: dict[str, str], **kwargs
) -> go.Figure:
    """Bars of ``y`` per UTC ``month``, one bar per ``color`` value side by side."""
    fig = px.bar(
        frame.to_pandas(),
        x="month",
        y=y,
        color=color,
        barmode="group",
        labels={"month": "month (UTC)", **labels},
        **kwargs,
    )
    fig.update_layout(height=360, margin={"t": 10, "b": 10}, legend={"orientation": "h"})
    return fig
