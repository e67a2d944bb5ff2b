"""Generation metrics, computed by the harness for methods that generate images (never by methods).

Files by role: ``fid.py`` (Gaussian statistics + pytorch-fid's Fréchet distance, refused when
n < dims + 1), ``inception_score.py``, ``kid.py`` (unbiased MMD², cubic kernel, subsets; raw and
on RMS-normalised features), ``prdc.py`` (precision, recall, density, coverage from k-NN balls),
``cas.py`` (Classification Accuracy Score: the downstream classifier trained on generated images
only), ``memorisation.py`` (nearest-training-image distance ratio), ``feature_extractors.py`` (the
``domain`` reference classifier and pytorch-fid's ``inception``, in a registry), ``grids.py``
(sample grid PNGs) and ``generation.py`` (``generation_metrics``: the entry point the runner calls).
"""
