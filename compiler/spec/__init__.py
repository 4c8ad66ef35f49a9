"""Front end: YAML with positions -> JSON Schema -> PromQL -> semantic checks."""
