"""What records say about the machine: CPU timings are only comparable with the CPU named."""

from __future__ import annotations

import platform
from pathlib import Path

import torch

from bench.environment import cpu_model, environment


def test_cpu_model_read_from_cpuinfo(tmp_path: Path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu\n")
    assert cpu_model(str(info)) == f"AMD EPYC 7B13 ({platform.machine()})"


def test_cpu_model_falls_back_without_cpuinfo(tmp_path: Path):
    assert cpu_model(str(tmp_path / "missing")) == (platform.processor() or platform.machine())


def test_cpu_records_name_the_cpu():
    env = environment(torch.device("cpu"), threads=1)
    assert env["device_name"] == env["cpu_model"] == cpu_model() and env["cpu_model"]
