"""Post-generation checks: cross-target consistency, secrets, and the promtool/amtool runner."""
