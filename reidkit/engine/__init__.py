"""Runner extensions: hooks and loops (registered in reidkit.registry)."""
from .hooks import *  # noqa: F401,F403
