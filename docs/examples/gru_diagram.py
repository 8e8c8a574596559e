"""The GRU cell, PyTorch's variant: the reset gate acts after the matmul."""

import matplotlib.pyplot as plt

from figures import LINEAR, box, inlet, node, wire

fig, ax = plt.subplots(figsize=(9, 4.6))
top, mid, low = 5.8, 4.0, 1.8

# The state line: h_{t-1} -> (z ⊙) -> (+) -> h_t
ax.text(-0.3, top, "$h_{t-1}$", ha="right", va="center", fontsize=13)
wire(ax, (-0.2, top), (7.75, top))
node(ax, 8.0, top, "⊙")
wire(ax, (8.25, top), (9.95, top))
node(ax, 10.2, top, "+")
wire(ax, (10.45, top), (11.3, top))
ax.text(11.4, top, "$h_t$", ha="left", va="center", fontsize=13)

# Reset gate r, and the hidden product it scales: r ⊙ (h W_hn^T + b_hn)
box(ax, 1.0, low, "$\\sigma$")
ax.text(
    1.0, low + 0.5, "r", ha="center", va="bottom", fontsize=12, style="italic"
)
inlet(ax, 1.0, low, "$x_t,\\ h_{t-1}$")
box(ax, 3.2, mid, "$h_{t-1} W_{hn}^{\\top} + b_{hn}$", LINEAR, w=2.5)
wire(ax, (3.2, top), (3.2, mid + 0.35))
wire(ax, (1.5, low), (2.95, low))
node(ax, 3.2, low, "⊙")
wire(ax, (3.2, mid - 0.35), (3.2, low + 0.25))
ax.text(
    3.45,
    low + 0.9,
    "reset after\nthe matmul",
    ha="left",
    va="center",
    fontsize=9,
    color="#555",
)

# Candidate n = tanh(x W_in^T + b_in + r ⊙ (...))
wire(ax, (3.45, low), (4.55, low))
node(ax, 4.8, low, "+")
inlet(ax, 4.8, low - 0.0, "$x_t W_{in}^{\\top} + b_{in}$", below=0.65)
wire(ax, (5.05, low), (5.7, low))
box(ax, 6.2, low, "tanh")
ax.text(
    6.2, low + 0.5, "n", ha="center", va="bottom", fontsize=12, style="italic"
)

# Update gate z: z ⊙ h_{t-1} on the state line, (1 - z) ⊙ n below
box(ax, 8.0, mid, "$\\sigma$")
ax.text(
    8.55, mid + 0.1, "z", ha="left", va="bottom", fontsize=12, style="italic"
)
ax.text(6.55, mid, "$x_t,\\ h_{t-1}$", ha="right", va="center", fontsize=10.5)
wire(ax, (6.6, mid), (7.5, mid))
wire(ax, (8.0, mid + 0.35), (8.0, top - 0.25))
node(ax, 8.0, 2.9, "$1-$")
wire(ax, (8.0, mid - 0.35), (8.0, 3.15))
node(ax, 8.0, low, "⊙")
wire(ax, (8.0, 2.65), (8.0, low + 0.25))
wire(ax, (6.7, low), (7.75, low))
wire(ax, (8.25, low), (10.2, low), (10.2, top - 0.25))

ax.set_xlim(-1.2, 12.2)
ax.set_ylim(0.1, 6.3)
ax.set_aspect("equal")
ax.axis("off")
plt.show()
