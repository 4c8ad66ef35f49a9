"""The shared core every stage reads: the model, burn-rate windows, names, diagnostics and
durations."""
