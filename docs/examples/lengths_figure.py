"""A padded batch, time x batch: valid and padded steps, both directions."""

import matplotlib.pyplot as plt

lengths = [5, 2, 4]
L, N = max(lengths), len(lengths)
VALID, PAD = "#dbe9f6", "#eeeeee"
FORWARD, REVERSE = "#1f5fa8", "#c0392b"

fig, ax = plt.subplots(figsize=(8, 3.6))
for b, length in enumerate(lengths):
    y = N - 1 - b  # sequence 0 on top
    for t in range(L):
        valid = t < length
        ax.add_patch(
            plt.Rectangle(
                (t, y),
                1,
                1,
                fc=VALID if valid else PAD,
                ec="#999999",
                hatch=None if valid else "//",
                lw=1,
            )
        )
        ax.text(
            t + 0.5,
            y + 0.5,
            f"$x_{t}$" if valid else "pad",
            ha="center",
            va="center",
            fontsize=10,
            color="black" if valid else "#777777",
        )
    last = length - 1
    # Forward: from step 0 to the last valid step; h_n taken there.
    ax.annotate(
        "",
        xy=(last + 0.74, y + 0.82),
        xytext=(0.15, y + 0.82),
        arrowprops={"arrowstyle": "-|>", "color": FORWARD, "lw": 1.6},
    )
    ax.plot(last + 0.85, y + 0.82, "o", color=FORWARD, ms=6)
    # Reverse: from the last valid step back to step 0; h_n taken at step 0.
    ax.annotate(
        "",
        xy=(0.26, y + 0.18),
        xytext=(last + 0.85, y + 0.18),
        arrowprops={"arrowstyle": "-|>", "color": REVERSE, "lw": 1.6},
    )
    ax.plot(0.15, y + 0.18, "o", color=REVERSE, ms=6)
    ax.text(
        -0.15,
        y + 0.5,
        f"b = {b}  (length {length})",
        ha="right",
        va="center",
        fontsize=10,
    )

for t in range(L):
    ax.text(t + 0.5, N + 0.12, f"t = {t}", ha="center", va="bottom", fontsize=9)
ax.plot(
    [],
    [],
    color=FORWARD,
    lw=1.6,
    marker="o",
    label="forward pass, t = 0 to length - 1; its h_n is taken at ●",
)
ax.plot(
    [],
    [],
    color=REVERSE,
    lw=1.6,
    marker="o",
    label="reverse pass, t = length - 1 down to 0; its h_n is taken at ●",
)
ax.legend(
    loc="upper center",
    bbox_to_anchor=(0.42, -0.02),
    ncol=1,
    frameon=False,
    fontsize=9,
)
ax.set_xlim(-2.6, L + 0.1)
ax.set_ylim(-0.1, N + 0.5)
ax.set_aspect("equal")
ax.axis("off")
plt.show()
