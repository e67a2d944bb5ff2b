"""Generation metrics through the real harness, with small generating methods defined here (and
unregistered afterwards so the method contract test never sees them)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch
from PIL import Image

from bench.method import METHODS, Capabilities, FitData, GenerativeConfig, Method
from bench.metrics import feature_extractors as fx
from bench.runner import run_cell
from bench.store import ResultStore
from bench.suite import Cell


@dataclass(frozen=True)
class _Config(GenerativeConfig):
    n_per_class: int = 10


class _Generator(Method):
    Config = _Config
    presets = {"tiny": {}, "quick": {}, "standard": {}}
    capabilities = Capabilities(generates=True)

    def fit(self, data: FitData) -> None:
        self.x, self.y, self.k = data.x, data.y, data.num_classes


class CopyTraining(_Generator):
    """A perfectly memorising 'generator': cycles through its k-shot training images."""

    def generate(self, n_per_class):
        xs = [self.x[self.y == c][torch.arange(n_per_class) % int((self.y == c).sum())] for c in range(self.k)]
        return torch.cat(xs), torch.arange(self.k).repeat_interleave(n_per_class)


class ClassMeanNoise(_Generator):
    """Per-class mean image plus Gaussian pixel noise: a crude but real generative model."""

    def generate(self, n_per_class):
        g = torch.Generator().manual_seed(self.ctx.seed)
        xs = []
        for c in range(self.k):
            mean = self.x[self.y == c].float().mean(0)
            xs.append((mean + 40 * torch.randn(n_per_class, *mean.shape, generator=g)).clamp(0, 255).round().to(torch.uint8))
        return torch.cat(xs), torch.arange(self.k).repeat_interleave(n_per_class)


class UniformNoise(_Generator):
    """An untrained generator: uniform noise images."""

    def generate(self, n_per_class):
        g = torch.Generator().manual_seed(self.ctx.seed)
        x = torch.randint(0, 256, (n_per_class * self.k, *self.x.shape[1:]), generator=g, dtype=torch.uint8)
        return x, torch.arange(self.k).repeat_interleave(n_per_class)


TEST_METHODS = {"test-copy-train": CopyTraining, "test-class-mean": ClassMeanNoise, "test-noise": UniformNoise}


@pytest.fixture(scope="module", autouse=True)
def registered():
    for name, cls in TEST_METHODS.items():
        METHODS.register(name)(cls)
    yield
    for name in TEST_METHODS:
        METHODS._items.pop(name)


def cell(method: str, shots: int = 10, overrides: dict | None = None) -> Cell:
    return Cell("metrics", "digits", method, shots, 0, "tiny", overrides or {}, "tiny", {}, 0)


@pytest.fixture(scope="module")
def records(shared_options, tmp_path_factory):
    store = ResultStore(tmp_path_factory.mktemp("records"))
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(fx.INCEPTION_ENV, raising=False)
        mp.setattr(torch.hub, "get_dir", lambda: str(store.root / "empty-hub"))
        for name in TEST_METHODS:
            path = store.root / f"{name}.json"
            rec = run_cell(cell(name), shared_options, path)
            store.write(path, rec)  # validates the schema and that the record is JSON
            out[name] = (json.loads(path.read_text()), path)
    return out


def test_generating_cell_records_generation_metrics(records):
    rec, path = records["test-class-mean"]
    assert rec["status"] == "ok", rec["error"]
    m, g = rec["metrics"], rec["details"]["generation"]
    for key in ("fid_domain", "kid_domain", "kid_domain_std", "is_domain", "is_domain_std",
                "gen_label_accuracy_domain", "memorisation_ratio", "kid_norm_x1e3_domain", "kid_norm_x1e3_domain_std",
                "precision_domain", "recall_domain", "density_domain", "coverage_domain", "cas"):
        assert isinstance(m[key], float), key
    for key in ("precision_domain", "recall_domain", "coverage_domain", "cas"):
        assert 0.0 <= m[key] <= 1.0, key
    assert 1.0 <= m["is_domain"] <= 10.0 and 0.0 <= m["gen_label_accuracy_domain"] <= 1.0
    dom = g["domain"]
    assert g["n_gen"] == dom["n_gen"] == 100 and dom["n_real"] == 597 and dom["dims"] == 64
    assert dom["reference_test_accuracy"] > 0.9 and dom["is_splits"] == 2 and dom["kid_subset_size"] == 100
    assert dom["prdc_k"] == 5 and dom["kid_norm_scale"] > 0
    cas = g["cas"]
    assert cas["n_train"] == 100 and cas["n_test"] == 597 and cas["train_s"] > 0
    assert g["inception"] == {"skipped": g["inception"]["skipped"]}
    assert g["inception"]["skipped"].startswith("Inception weights not available")
    assert not any(k.endswith("_inception") for k in m)
    assert rec["timings"]["metrics_s"] > 0


def test_sample_grid_png_next_to_the_record(records):
    rec, path = records["test-class-mean"]
    png = path.with_suffix(".png")
    assert rec["details"]["generation"]["grid"] == png.name and png.is_file()
    with Image.open(png) as im:
        w, h = im.size
    tile = 32 + 2  # 8×8 digits enlarged ×4, 2-pixel padding
    assert h == 10 * tile + 2 and w > 10 * tile + 2  # rows = 10 classes, 10 samples each; a margin of row labels


def test_memorisation_and_untrained_vs_trained(records):
    copy = records["test-copy-train"][0]["metrics"]
    mean = records["test-class-mean"][0]["metrics"]
    noise = records["test-noise"][0]["metrics"]
    assert copy["memorisation_ratio"] < 1e-6  # copies of the 10-shot images are exactly visible
    assert mean["memorisation_ratio"] > 0.3
    assert noise["fid_domain"] > 5 * mean["fid_domain"] and noise["fid_domain"] > 5 * copy["fid_domain"]
    assert noise["kid_domain"] > 5 * mean["kid_domain"]
    assert copy["gen_label_accuracy_domain"] > 0.9 and noise["gen_label_accuracy_domain"] < 0.5
    assert noise["kid_norm_x1e3_domain"] > 5 * mean["kid_norm_x1e3_domain"]
    # noise lies outside nearly every real k-NN ball and covers almost none; real copies lie inside
    assert noise["precision_domain"] < 0.2 and noise["coverage_domain"] < 0.05 and noise["density_domain"] < 0.1
    assert copy["precision_domain"] > 0.8 and copy["coverage_domain"] > 2 * noise["coverage_domain"]
    # a classifier trained on the copied real images beats one trained on noise (chance ~0.1)
    assert copy["cas"] > 0.3 and noise["cas"] < 0.2


def test_prdc_refused_in_the_details_when_k_is_not_below_the_sample_count(shared_options):
    from bench.datasets import load_dataset
    from bench.metrics.generation import GenerationConfig, generation_metrics
    from bench.tasks import draw_task

    ds = load_dataset("digits")
    x = ds.train_x[:100]
    gen = generation_metrics(x, ds.train_y[:100], draw_task(ds, 2, 0), shared_options,
                             cfg=GenerationConfig(extractors=("domain",), prdc_k=100))
    assert gen["details"]["domain"]["prdc"].startswith(
        "refused: precision/recall/density/coverage with k=100 need more than k samples in each set")
    assert "precision_domain" not in gen["metrics"] and "fid_domain" in gen["metrics"]
    assert gen["details"]["cas"] == {"skipped": "no downstream classifier config given"} and "cas" not in gen["metrics"]


def test_metrics_are_deterministic(records, shared_options):
    again = run_cell(cell("test-class-mean"), shared_options)
    assert again["metrics"] == records["test-class-mean"][0]["metrics"]


def test_fid_refused_but_kid_recorded_when_too_few_samples(shared_options):
    rec = run_cell(cell("test-class-mean", overrides={"n_per_class": 3}), shared_options)
    assert rec["status"] == "ok", rec["error"]
    assert "fid_domain" not in rec["metrics"] and isinstance(rec["metrics"]["kid_domain"], float)
    assert rec["details"]["generation"]["domain"]["fid"].startswith("refused: FID needs at least dims + 1 = 65")


def test_no_generation_metrics_for_methods_that_do_not_generate(shared_options, tmp_path):
    path = tmp_path / "baseline.json"
    rec = run_cell(Cell("metrics", "digits", "baseline", 2, 0, "tiny", {}, "tiny", {}, 0), shared_options, path)
    assert rec["status"] == "ok"
    assert not any(k.startswith(("fid", "kid", "is_", "memorisation", "precision", "recall", "density", "coverage",
                                 "cas")) for k in rec["metrics"])
    assert "generation" not in rec["details"] and rec["timings"]["metrics_s"] == 0.0
    assert not path.with_suffix(".png").exists()
