"""slo: compile SLO specs into Prometheus rules, promtool tests and more.

The pipeline, one folder per stage (ARCHITECTURE.md has the whole picture and every module):

    spec/ (YAML with positions, JSON Schema, PromQL)  ->  build/  ->  core/model.py
    model  ->  targets/  ->  {relative path: text}  ->  checks/  ->  pipeline/output.py  ->  out/

The CLI (cli.py) calls the functions re-exported here and the stages' public entry points.
"""

from compiler.pipeline import CompileResult, compile_tree, load_tree

__all__ = ["CompileResult", "compile_tree", "load_tree"]
