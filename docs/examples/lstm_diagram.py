"""The LSTM cell: gates i, f, g, o as in PyTorch; the projection is optional."""

import matplotlib.pyplot as plt

from figures import box, inlet, node, wire

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

# Output gate o and the emitted h = o ⊙ tanh(c), projected if proj_size > 0
gate(8.2, low, "$\\sigma$", "o")
box(ax, 9.6, mid, "tanh")
wire(ax, (9.6, top), (9.6, mid + 0.35))
wire(ax, (8.7, low), (9.35, low))
node(ax, 9.6, low, "⊙")
wire(ax, (9.6, mid - 0.35), (9.6, low + 0.25))
wire(ax, (9.85, low), (10.4, low))
box(ax, 11.0, low, "$W_{hr}^{\\top}$", "#eeeeee", w=1.2, ls="--")
ax.text(
    11.0,
    low - 0.5,
    "if proj_size > 0",
    ha="center",
    va="top",
    fontsize=9,
    color="#555",
)
wire(ax, (11.6, low), (12.2, low))
ax.text(12.3, low, "$h_t$", ha="left", va="center", fontsize=13)

ax.set_xlim(-1.2, 13.0)
ax.set_ylim(0.3, 6.3)
ax.set_aspect("equal")
ax.axis("off")
plt.show()
