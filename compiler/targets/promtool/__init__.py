"""promtool target: generated unit tests for every alert, and the engine that writes them."""
