"""Backup, verify, restore and drills: prove the store can come back."""
