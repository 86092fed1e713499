"""Metrics, drift and alert rules."""
