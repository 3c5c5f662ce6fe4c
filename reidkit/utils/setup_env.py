"""Registration entry point for scripts that build outside a Runner."""
import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every reidkit module that registers classes.

    The registries import their ``locations`` lazily, so configs work without
    this; it is kept for scripts that build components by hand.

    Args:
        init_default_scope (bool): Also make ``reidkit`` the current default
            scope, so that ``MODELS.build(dict(type='ResNet'))`` from mmengine's
            registries resolves reidkit names. Defaults to True.
    """
    import reidkit.datasets  # noqa: F401
    import reidkit.engine  # noqa: F401
    import reidkit.evaluation  # noqa: F401
    import reidkit.models  # noqa: F401
    import reidkit.clustering  # noqa: F401

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None or not DefaultScope.check_instance_created('reidkit'):
        if current is not None and current.scope_name != 'reidkit':
            warnings.warn(f'The current default scope "{current.scope_name}" '
                          'is not "reidkit"; creating a "reidkit" scope.')
        name = f'reidkit-{datetime.datetime.now()}'
        DefaultScope.get_instance(name, scope_name='reidkit')
