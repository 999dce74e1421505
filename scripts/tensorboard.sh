#!/bin/sh
# Starts TensorBoard on logs/ at http://127.0.0.1:6006/; flags as for python -m xor_tf.board.
cd "$(dirname "$0")/.." && exec "${PYTHON:-python}" -m xor_tf.board "$@"
