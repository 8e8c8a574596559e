"""Train the character model of docs/learn/char-lm.md and store it as fixtures.

Writes docs/data/char_lm_gru.npz (the GRU, with rnn.save) and
docs/data/char_lm_head.npz (the readout and the loss of every update). The
page loads both, then trains a little more at build time. Run from the
repository root:

    python docs/learn/train_char_lm.py
"""

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs" / "examples"))

from learn_char_lm import (  # noqa: E402
    CharModel,
    bits_per_char,
    help_texts,
    sample,
    train_chars,
)

import rnn  # noqa: E402

HIDDEN, UPDATES, SEED = 128, 3000, 0


def main() -> None:
    train, held_out = help_texts()
    model = CharModel(HIDDEN, seed=SEED)
    optimizer = rnn.Adam(model, lr=0.003)
    rng = np.random.default_rng(SEED)
    losses = []
    for block in range(UPDATES // 500):
        losses += train_chars(model, optimizer, train, 500, rng)
        bpc = bits_per_char(model, held_out[:20001])
        print(f"{len(losses)} updates: held-out {bpc:.3f} bits/char")
        print(sample(model, "The ", 120, np.random.default_rng(block)))
    data = ROOT / "docs" / "data"
    rnn.save(model.layer, data / "char_lm_gru.npz")
    np.savez(
        data / "char_lm_head.npz",
        losses=np.array(losses, dtype=np.float32),
        **model.head,
    )


if __name__ == "__main__":
    main()
