"""Clusterers that turn features into pseudo identities (CLUSTERERS)."""
