"""Weights: this package's `.weights.h5` files, published checkpoints imported exactly, the registry of
published weights, and what a `weights=` argument resolves to. Builds networks from `arch` alone."""
