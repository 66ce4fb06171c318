"""Training: a run's settings and plan, recipes and schedules, tf.distribute, the run directory and its record,
the training loop, keras-tuner search, and a run's reports."""
