"""Grafana target: one dashboard per service and an overview, as dashboard JSON."""
