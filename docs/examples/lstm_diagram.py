"""Draw the LSTM cell (PyTorch's gate order i, f, g, o; the projection is optional)."""

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

GATE, LINEAR, NODE = "#dbe9f6", "#fdebd0", "#ffffff"


def box(ax, x, y, text, color=GATE, w=1.0, h=0.7, ls="-"):
    ax.add_patch(
        plt.Rectangle((x - w / 2, y - h / 2), w, h, fc=color, ec="black", lw=1.2, ls=ls, zorder=2)
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=12, zorder=3)


def node(ax, x, y, text):
    ax.add_patch(plt.Circle((x, y), 0.25, fc=NODE, ec="black", lw=1.2, zorder=2))
    size = 13 if len(text) == 1 else 8.5
    ax.text(x, y, text, ha="center", va="center", fontsize=size, zorder=3)


def wire(ax, *points, label=None, where="end", color="black"):
    """A polyline with an arrow head on its last segment."""
    xs, ys = zip(*points)
    ax.plot(xs[:-1], ys[:-1], color=color, lw=1.4, zorder=1, solid_capstyle="round")
    ax.annotate(
        "",
        xy=points[-1],
        xytext=points[-2],
        arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.4, "shrinkA": 0, "shrinkB": 0},
        zorder=1,
    )
    if label:
        x, y = points[0] if where == "start" else points[-1]
        ax.text(x, y, label, ha="center", va="top" if where == "start" else "bottom", fontsize=11)


def inlet(ax, x, y, label, below=0.9):
    """An input arrow coming up into a box from a label underneath."""
    wire(ax, (x, y - below - 0.35), (x, y - 0.35))
    ax.text(x, y - below - 0.42, label, ha="center", va="top", fontsize=10.5)


fig, ax = plt.subplots(figsize=(9, 4.6))
top, mid, low = 5.8, 4.0, 2.0


def gate(x, y, text, name, label_side="left"):
    box(ax, x, y, text)
    dx = -0.68 if label_side == "left" else 0.68
    ha = "right" if label_side == "left" else "left"
    ax.text(x + dx, y, name, ha=ha, va="center", fontsize=13, style="italic")
    inlet(ax, x, y, "$x_t,\\ h_{t-1}$", below=0.75)


# The cell line: c_{t-1} -> (f ⊙) -> (+ i ⊙ g) -> c_t
ax.text(-0.3, top, "$c_{t-1}$", ha="right", va="center", fontsize=13)
wire(ax, (-0.2, top), (2.75, top))
node(ax, 3.0, top, "⊙")
wire(ax, (3.25, top), (5.75, top))
node(ax, 6.0, top, "+")
wire(ax, (6.25, top), (11.8, top))
ax.text(11.9, top, "$c_t$", ha="left", va="center", fontsize=13)

# Forget gate f
gate(3.0, mid, "$\\sigma$", "f")
wire(ax, (3.0, mid + 0.35), (3.0, top - 0.25))

# Input gate i and candidate g
gate(4.6, mid, "$\\sigma$", "i")
wire(ax, (5.1, mid), (5.75, mid))
node(ax, 6.0, mid, "⊙")
wire(ax, (6.0, mid + 0.25), (6.0, top - 0.25))
gate(6.0, low, "tanh", "g", label_side="right")
wire(ax, (6.0, low + 0.35), (6.0, mid - 0.25))

# Output gate o and the emitted state h = o ⊙ tanh(c), projected if proj_size > 0
gate(8.2, low, "$\\sigma$", "o")
box(ax, 9.6, mid, "tanh")
wire(ax, (9.6, top), (9.6, mid + 0.35))
wire(ax, (8.7, low), (9.35, low))
node(ax, 9.6, low, "⊙")
wire(ax, (9.6, mid - 0.35), (9.6, low + 0.25))
wire(ax, (9.85, low), (10.4, low))
box(ax, 11.0, low, "$W_{hr}^{\\top}$", "#eeeeee", w=1.2, ls="--")
ax.text(11.0, low - 0.5, "if proj_size > 0", ha="center", va="top", fontsize=9, color="#555")
wire(ax, (11.6, low), (12.2, low))
ax.text(12.3, low, "$h_t$", ha="left", va="center", fontsize=13)

ax.set_xlim(-1.2, 13.0)
ax.set_ylim(0.3, 6.3)
ax.set_aspect("equal")
ax.axis("off")
buffer = io.StringIO()
fig.savefig(buffer, format="svg", bbox_inches="tight")
plt.close(fig)
print(buffer.getvalue())
