"""Drawing helpers for the cell diagrams of the docs: boxes, nodes and wires.

Save this file next to your script or notebook; then ``from figures import box``
works there. It needs matplotlib: ``pip install matplotlib``.
"""

import matplotlib.pyplot as plt

GATE, LINEAR, NODE = "#dbe9f6", "#fdebd0", "#ffffff"


def box(ax, x, y, text, color=GATE, w=1.0, h=0.7, ls="-"):
    ax.add_patch(
        plt.Rectangle(
            (x - w / 2, y - h / 2),
            w,
            h,
            fc=color,
            ec="black",
            lw=1.2,
            ls=ls,
            zorder=2,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=12, zorder=3)


def node(ax, x, y, text):
    ax.add_patch(
        plt.Circle((x, y), 0.25, fc=NODE, ec="black", lw=1.2, zorder=2)
    )
    size = 13 if len(text) == 1 else 8.5
    ax.text(x, y, text, ha="center", va="center", fontsize=size, zorder=3)


def wire(ax, *points, label=None, where="end", color="black"):
    """A polyline with an arrow head on its last segment."""
    xs, ys = zip(*points)
    ax.plot(
        xs[:-1], ys[:-1], color=color, lw=1.4, zorder=1, solid_capstyle="round"
    )
    ax.annotate(
        "",
        xy=points[-1],
        xytext=points[-2],
        arrowprops={
            "arrowstyle": "-|>",
            "color": color,
            "lw": 1.4,
            "shrinkA": 0,
            "shrinkB": 0,
        },
        zorder=1,
    )
    if label:
        x, y = points[0] if where == "start" else points[-1]
        ax.text(
            x,
            y,
            label,
            ha="center",
            va="top" if where == "start" else "bottom",
            fontsize=11,
        )


def inlet(ax, x, y, label, below=0.9):
    """An input arrow coming up into a box from a label underneath."""
    wire(ax, (x, y - below - 0.35), (x, y - 0.35))
    ax.text(x, y - below - 0.42, label, ha="center", va="top", fontsize=10.5)
