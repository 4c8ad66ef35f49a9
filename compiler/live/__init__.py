"""The live systems as they are now, read back: `slo status` and `slo report`."""
