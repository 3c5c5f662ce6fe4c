__version__ = '0.1.0'

# mmengine range this release is tested against.
MMENGINE_MIN = '0.10.0'
MMENGINE_MAX = '0.11.0'  # exclusive


def parse_version_info(version_str: str) -> tuple:
    """Turn '0.10.7' (or '0.10.7rc1') into a comparable tuple of ints."""
    parts = []
    for piece in version_str.split('.')[:3]:
        digits = ''.join(ch for ch in piece if ch.isdigit()) or '0'
        parts.append(int(digits))
    while len(parts) < 3:
        parts.append(0)
    return tuple(parts)


version_info = parse_version_info(__version__)
