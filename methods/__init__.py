"""Built-in method plugins, importable as ``bench.methods`` (one file per method).

Importing this package imports every module in it whose name does not start with ``_``; each
registers itself with ``@register_method``. Shared networks live in :mod:`bench.nets`.
"""

import importlib
import pkgutil

for _info in pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
