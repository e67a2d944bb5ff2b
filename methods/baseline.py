"""``baseline``: no augmentation. The downstream classifier sees only the k real shots.

The reference row of every table; every paired test compares against it.
"""

from bench.method import Method, register_method


@register_method("baseline")
class Baseline(Method):
    version = "1"
