"""The data plane: route table, backends, resilience and the gateway app."""
