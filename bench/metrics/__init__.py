"""Generation metrics, computed by the harness for methods that generate images (never by methods).

Files by role: ``fid.py`` (Gaussian statistics + pytorch-fid's Fréchet distance, refused when
n < dims + 1), ``inception_score.py``, ``kid.py`` (unbiased MMD², cubic kernel, subsets),
``memorisation.py`` (nearest-training-image distance ratio), ``feature_extractors.py`` (the
``domain`` reference classifier and pytorch-fid's ``inception``, in a registry), ``grids.py``
(sample grid PNGs) and ``generation.py`` (``generation_metrics``: the entry point the runner calls).
"""
