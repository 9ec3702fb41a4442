"""How a dense layer's product is traced: small layers as a broadcast multiply and a sum, larger
ones as a dot (a tuning measured on XLA:CPU; the models read ``SMALL_LAYER`` when traced)."""

from __future__ import annotations

import contextlib


# A layer whose weight has at most SMALL_LAYER entries is applied as a broadcast multiply and a sum
# over its inputs, not a dot. Vmapped over a population, a dot becomes a batch of tiny matrix
# products (one per member, or one per data stream), each with a fixed cost and a transposed copy
# of its operands; the multiply-and-sum fuses into the loops around it. Measured with
# dyntheory.bench shapes at 10,000 members, steps (and measurements) per member:
# - W3, 8x8 layers (64 entries): 2.2x (4.0x) faster; 4x4 layers: 3.1x (4.8x);
# - W1's 32x1 output layer: the same (1.3-1.4x, on the 1,024-point test set);
# - 16x16 layers (256 entries): 0.47x (1.2x), and a 16x8 first layer on shared inputs 0.28x on the
#   test set: larger layers stay dots.
SMALL_LAYER = 64


@contextlib.contextmanager
def plain_products():
    """Trace dense layers as ``x @ w`` at every size, inside this block (for baselines that are
    faster that way, such as the benchmark's unchunked textbook recipe). It applies to functions
    first traced inside the block: jax caches a function's trace and does not see the switch."""
    global SMALL_LAYER
    old, SMALL_LAYER = SMALL_LAYER, 0
    try:
        yield
    finally:
        SMALL_LAYER = old
