"""slo: compile SLO specs into Prometheus rules, promtool tests and more.

The pipeline, one stage per module:

    spec/ (YAML with positions, JSON Schema, PromQL)  ->  build.py  ->  model.py
    model  ->  targets/<name>.py  ->  {relative path: text}  ->  output.py  ->  out/

The CLI (cli.py) only calls the functions re-exported here.
"""

from compiler.pipeline import CompileResult, compile_tree, load_tree

__all__ = ["CompileResult", "compile_tree", "load_tree"]
