"""xor_tf: how a neural network learns XOR, in TensorFlow 2 and TensorBoard."""
