"""Compatibility fixes for the pinned mmengine 0.10.x + torch >= 2.6 stack."""
import numpy as np
import torch


def _numpy_safe_globals() -> list:
    """Numpy objects that mmengine checkpoints pickle (message hub, meta)."""
    objs = [np.ndarray, np.dtype]
    # numpy >= 2 moved the core module to ``numpy._core``; pickles made with
    # either name may exist, so allow-list whichever ones import.
    for mod_name in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        try:
            mod = __import__(mod_name, fromlist=['_reconstruct', 'scalar'])
        except ImportError:  # pragma: no cover - depends on numpy version
            continue
        objs.extend([mod._reconstruct, mod.scalar])
    # Concrete dtype classes (numpy.dtypes.Float64DType, ...), numpy >= 1.25.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        for name in dir(dtypes):
            obj = getattr(dtypes, name)
            if isinstance(obj, type) and issubclass(obj, np.dtype):
                objs.append(obj)
    # Scalar types (np.float64, np.int64, ...) that end up in runtime info.
    for name in ('float16', 'float32', 'float64', 'int8', 'int16', 'int32',
                 'int64', 'uint8', 'bool_'):
        objs.append(getattr(np, name))
    return objs


def register_torch_safe_globals() -> None:
    """Allow-list what mmengine checkpoints contain for ``torch.load``.

    torch >= 2.6 loads with ``weights_only=True`` by default, which rejects
    mmengine's :class:`~mmengine.logging.HistoryBuffer` and numpy objects
    stored in every checkpoint's ``message_hub``; resume and ``load_from``
    then fail. Registering them once makes both work without turning off the
    weights-only safety for anything else.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # torch < 2.4 has no weights-only default
        return
    import builtins
    import codecs
    import collections

    from mmengine.logging import HistoryBuffer

    # HistoryBuffer pickles its bound statistics methods as
    # getattr(buffer, 'min'); MultiStepLR keeps milestones in a Counter;
    # numpy scalars are rebuilt from bytes via codecs.encode.
    others = [builtins.getattr, collections.Counter, codecs.encode]
    add_safe_globals([HistoryBuffer] + others + _numpy_safe_globals())
