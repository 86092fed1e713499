"""Incidents, their timelines and tasks, runbooks and blameless postmortems."""
