"""Visualisation backends and visualizers (mmengine's are used as-is)."""
