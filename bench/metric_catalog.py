"""What each recorded metric is called for a reader, which way is better, its unit and what it means.

One table, :data:`CATALOG`, drives every section title, axis label, direction mark and glossary
entry of the report, in its order. A new metric appears in tables, figures and the glossary by
adding one :class:`MetricSpec` here; a record key that matches no entry is kept in the long table
(records.csv) only.

Patterns are matched against the record key (``fid_domain``); ``{space}`` in a title is the feature
space named by the key's suffix (``domain`` → "domain features"), ``{0}`` the first regex group.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: feature-space suffixes of generation metrics, as a reader should see them
SPACES = {"domain": "domain features", "inception": "Inception features"}


@dataclass(frozen=True)
class MetricSpec:
    pattern: str  # regex on the record key; a group named ``space`` is the feature-space suffix
    title: str  # "FID ({space})"
    higher: bool | None  # None: no better direction (memorisation ratio)
    unit: str  # for axis labels and notes; "" when unitless
    glossary: str  # one or two sentences: what it measures, how it is computed here
    lo: float | None = None  # the metric's range, for clipping CI bands drawn around a mean
    hi: float | None = None


_SPACE = r"(?:_(?P<space>[a-z0-9]+))?"

CATALOG: list[MetricSpec] = [
    MetricSpec(r"^accuracy$", "Test accuracy", True, "fraction correct",
               "Share of the test split the downstream classifier labels correctly (the headline number).", 0, 1),
    MetricSpec(rf"^cas{_SPACE}$", "Classification Accuracy Score (CAS)", True, "fraction correct",
               "Ravuri & Vinyals 2019: the fixed downstream classifier trained on generated images only, tested "
               "on the real test split; asks whether samples are useful, which FID and IS do not predict.", 0, 1),
    MetricSpec(r"^teacher_accuracy$", "Teacher accuracy (before distillation)", True, "fraction correct",
               "Test accuracy of the large model a distilling method starts from.", 0, 1),
    MetricSpec(r"^student_fp32_accuracy$", "Student accuracy (fp32, before quantisation)", True, "fraction correct",
               "Test accuracy of the distilled student before int8 quantisation.", 0, 1),
    MetricSpec(r"^detail_pseudo_label_true_accuracy$", "Pseudo-label correctness", True, "fraction correct",
               "Share of the pseudo-labels a semi-supervised method assigned to unlabelled images that match "
               "their true label.", 0, 1),
    MetricSpec(rf"^fid{_SPACE}$", "FID ({space})", False, "",
               "Fréchet distance between Gaussians fitted to features of generated and real test images "
               "(pytorch-fid's formula); 0 = same mean and covariance. Comparable across methods on one dataset "
               "and feature extractor only.", 0, None),
    # KID is shown on RMS-normalised features ×10³ (bench/metrics/kid.py): raw KID scales with the
    # features' arbitrary scale up to its sixth power (tens of thousands on Fashion-MNIST's domain
    # features). The raw value (``kid_<space>``, torch-fidelity's number) stays in records.csv.
    MetricSpec(r"^kid_norm_x1e3(?:_(?P<space>[a-z0-9]+))?$", "KID ×10³ ({space})", False, "",
               "Kernel Inception Distance: unbiased MMD² with a cubic polynomial kernel on the same features, "
               "averaged over random subsets, computed after dividing all features by the real set's RMS "
               "coordinate, ×1000; 0 = same distribution, and it can be slightly negative by chance.",
               0, None),
    MetricSpec(rf"^is{_SPACE}$", "Inception Score ({space})", True, "",
               "exp(E KL(p(y|x) ‖ p(y))) from the reference classifier's class probabilities of generated "
               "images: high when each image is confidently one class and all classes occur; 1 to #classes.",
               1, None),
    MetricSpec(rf"^precision{_SPACE}$", "Precision ({space})", True, "fraction",
               "Kynkäänniemi et al. 2019 (k = 5): share of generated images inside the k-NN balls of real "
               "images; fidelity.", 0, 1),
    MetricSpec(rf"^recall{_SPACE}$", "Recall ({space})", True, "fraction",
               "Kynkäänniemi et al. 2019 (k = 5): share of real images inside the k-NN balls of generated "
               "images; diversity.", 0, 1),
    MetricSpec(rf"^density{_SPACE}$", "Density ({space})", True, "",
               "Naeem et al. 2020 (k = 5): how many real k-NN balls contain each generated image, divided by k; "
               "about 1 when samples are distributed like real data, above 1 where they crowd.", 0, None),
    MetricSpec(rf"^coverage{_SPACE}$", "Coverage ({space})", True, "fraction",
               "Naeem et al. 2020 (k = 5): share of real images whose k-NN ball contains at least one "
               "generated image.", 0, 1),
    MetricSpec(rf"^gen_label_accuracy{_SPACE}$", "Generated-label agreement ({space})", True, "fraction",
               "Share of generated images the reference classifier assigns to the class they were generated "
               "for.", 0, 1),
    MetricSpec(r"^memorisation_ratio$", "Memorisation ratio", None, "ratio",
               "Mean nearest-neighbour distance from generated images to the k-shot training images, divided "
               "by the same distance from held-out real images; well below 1 flags copying, above 1 is not "
               "better.", 0, None),
    MetricSpec(r"^(?!detail_)(.+)_accuracy$", "{0} accuracy", True, "fraction correct",
               "A further test accuracy a method reports beside the headline one.", 0, 1),
]


@dataclass(frozen=True)
class Metric:
    """A record key resolved against :data:`CATALOG`."""

    key: str
    title: str
    higher: bool | None
    unit: str
    glossary: str
    lo: float | None
    hi: float | None
    order: int  # position of the matching entry in CATALOG

    @property
    def axis_label(self) -> str:
        return f"{self.title} ({self.unit})" if self.unit else self.title

    @property
    def direction(self) -> str:
        return {True: "higher is better", False: "lower is better", None: "no better direction"}[self.higher]

    @property
    def arrow(self) -> str:
        return {True: "↑", False: "↓", None: ""}[self.higher]


def describe(key: str) -> Metric | None:
    """The catalogue's description of record key ``key``, or None when no entry matches."""
    for i, spec in enumerate(CATALOG):
        m = re.match(spec.pattern, key)
        if not m:
            continue
        space = m.groupdict().get("space")
        if m.re.groupindex and space is None and "{space}" in spec.title:
            title = spec.title.replace(" ({space})", "")
        else:
            title = spec.title.replace("{space}", SPACES.get(space or "", f"{space} features"))
        groups = [g for j, g in enumerate(m.groups(), 1) if j not in m.re.groupindex.values()]
        if groups:
            title = title.format(*(g.replace("_", " ") for g in groups))
            title = title[0].upper() + title[1:]
        return Metric(key, title, spec.higher, spec.unit, spec.glossary, spec.lo, spec.hi, i)
    return None
