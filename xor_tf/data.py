"""The XOR truth table: the four inputs and their labels, as the notebooks write them."""

import numpy as np

INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
LABELS = np.array([[0], [1], [1], [0]], dtype=np.float32)
