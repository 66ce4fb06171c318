"""Training: a run's settings and plan, recipes and schedules, tf.distribute, the run directory and its record,
the training loop, keras-tuner search (in one process or over workers), and a run's reports."""
