"""Show a figure on a Learn page: an SVG ``<img>`` with a text alternative.

Stand-in for the site's ``rnn_docs.figure`` helper (the same call,
``figure(fig, alt=...)``), used in hidden lines of the pages in ``docs/learn/``.
The picture keeps a white background and a thin border, so that its black
lines read in the dark theme too.
"""

import base64
import html
import io

import matplotlib.pyplot as plt

STYLE = (
    "background:#fff;border:1px solid #9e9e9e;border-radius:4px;padding:4px;"
    "max-width:100%;height:auto;display:block;margin:0.6em auto"
)


def figure(fig, alt):
    """``fig`` as an ``<img>`` with alternative text ``alt``; closes ``fig``."""
    if not alt.strip():
        raise ValueError("alt must describe the figure; got an empty string")
    fig.patch.set_facecolor("white")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", facecolor="white")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'<img src="data:image/svg+xml;base64,{data}" alt="{html.escape(alt)}" '
        f'style="{STYLE}">'
    )
