from .resnet import ResNet
from .resnet_ibn import ResNetIBN

__all__ = ['ResNet', 'ResNetIBN']
