from __future__ import annotations

import sys
import textwrap

import pytest

from bench.errors import BenchError
from bench.method import METHODS, Method
from bench.registry import Registry, check_name


def test_register_get_and_pattern():
    reg: Registry = Registry("thing")

    @reg.register("alpha-1")
    def alpha():
        return 1

    reg.register("beta")(lambda: 2)
    assert reg.get("alpha-1") is alpha
    assert reg.names() == ["alpha-1", "beta"]
    assert reg.names("a*") == ["alpha-1"]
    assert "beta" in reg and "gamma" not in reg


def test_duplicate_name_is_an_error():
    reg: Registry = Registry("thing")
    reg.register("x")(lambda: 1)
    with pytest.raises(BenchError, match="registered twice"):
        reg.register("x")(lambda: 2)


@pytest.mark.parametrize("bad", ["", "Upper", "a/b", "../x", " x", "a b", "x" * 65, "-lead"])
def test_unsafe_names_rejected(bad):
    with pytest.raises(BenchError, match="invalid"):
        check_name(bad)


def test_unknown_name_suggests_close_match():
    with pytest.raises(BenchError, match=r"unknown method 'clasic'; did you mean 'classic'\?"):
        METHODS.get("clasic")


def test_base_class_is_enforced():
    reg: Registry = Registry("method", base=Method)
    with pytest.raises(BenchError, match="subclass of Method"):
        reg.register("not-a-method")(object)


def test_entry_point_plugin_is_loaded(tmp_path, monkeypatch):
    """An out-of-tree package declaring the augbench.methods entry point shows up in the registry."""
    (tmp_path / "my_aug_plugin.py").write_text(textwrap.dedent('''
        from bench.method import Method, register_method

        @register_method("my-plugin")
        class MyPlugin(Method):
            """A user's method living outside the repo."""
    '''))
    dist = tmp_path / "my_aug_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-aug-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[augbench.methods]\nmy-plugin = my_aug_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg: Registry = Registry("method", base=Method, entry_point_group="augbench.methods")
    try:
        reg._load()
        assert "my-plugin" in METHODS  # registered through the real entry-point machinery
        assert METHODS.get("my-plugin").__name__ == "MyPlugin"
    finally:
        METHODS._items.pop("my-plugin", None)
        sys.modules.pop("my_aug_plugin", None)
