"""In-process fakes of HTTP APIs that cannot be installed here (Grafana, Mimir), with fault
injection."""
