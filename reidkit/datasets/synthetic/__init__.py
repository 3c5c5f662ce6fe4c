"""Procedurally generated person re-ID data (Market-1501 layout)."""
from .generator import (GENERATOR_VERSION, SYNTHETIC_SIZES, SYNTHETIC_STYLES,
                        ensure_synthetic_reid, generate_synthetic_reid)

__all__ = [
    'GENERATOR_VERSION', 'SYNTHETIC_SIZES', 'SYNTHETIC_STYLES',
    'ensure_synthetic_reid', 'generate_synthetic_reid'
]
