"""The model registry: models, numbered versions and their content-addressed artifacts."""
