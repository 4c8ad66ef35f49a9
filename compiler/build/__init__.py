"""Build stage: validated spec documents -> model, with the checks a schema cannot express."""
