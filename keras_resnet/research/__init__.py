"""Research: the paper's experiments, the benchmark against keras.applications, op-level profiles, figures."""
