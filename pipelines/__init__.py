"""Wiring: the one Dagster ``Definitions``, its resources and settings, and the CLI."""
