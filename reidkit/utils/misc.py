"""Small helpers shared across reidkit."""
import torch.nn as nn
from mmengine.model import is_model_wrapper


def get_ori_model(model: nn.Module) -> nn.Module:
    """Return the model inside a DDP/FSDP wrapper, or the model itself."""
    return model.module if is_model_wrapper(model) else model
