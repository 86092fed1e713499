"""Approval workflow, deployment gate and approval notifications (webhook outbox)."""
