from .cls_head import IdentityClsHead

__all__ = ['IdentityClsHead']
