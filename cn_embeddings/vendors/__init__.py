"""One module per vendor API: limits as data, and pure build/parse functions (no I/O)."""

from . import ark, qianfan, tencent

__all__ = ["ark", "qianfan", "tencent"]
