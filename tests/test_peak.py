"""Sanity checks of the machine-peak microbenchmarks bench/ divides by (csrc/cpu/peak.cpp).

They only check that the numbers are usable and the arguments validated; how fast the machine
is belongs in bench/README.md, never in an assert.
"""
import math
import os
import subprocess
import sys

import pytest

import fastcnn
from fastcnn import _C


def _usable(value):
    return isinstance(value, float) and math.isfinite(value) and value > 0


@pytest.mark.parametrize("threads", [1, 2])
def test_peaks_are_positive_and_finite(threads):
    previous = fastcnn.get_num_threads()
    fastcnn.set_num_threads(threads)
    try:
        assert _usable(_C.measure_fma_peak(0.02))
        assert _usable(_C.measure_stream_bandwidth(1 << 20, 0.02))
    finally:
        fastcnn.set_num_threads(previous)


@pytest.mark.parametrize("isa", ["generic", "avx2"])
def test_fma_peak_runs_on_lower_isa(isa):
    # The ISA is read once per process, so a lower one needs a fresh interpreter.
    code = "from fastcnn import _C; print(_C.cpu_isa(), _C.measure_fma_peak(0.02))"
    env = dict(os.environ, FASTCNN_ISA=isa)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    reported_isa, gflops = result.stdout.split()
    assert reported_isa in ("generic", isa)
    assert _usable(float(gflops))


@pytest.mark.parametrize("seconds", [0.0, -1.0, math.inf, math.nan, 1e9])
def test_fma_peak_rejects_bad_seconds(seconds):
    with pytest.raises(ValueError, match="measure_fma_peak: seconds must be in"):
        _C.measure_fma_peak(seconds)


@pytest.mark.parametrize("bytes_, seconds, message", [
    (0, 0.01, "bytes must be in"),
    (100, 0.01, "bytes must be in"),
    (1 << 62, 0.01, "bytes must be in"),
    (1 << 20, 0.0, "seconds must be in"),
    (1 << 20, math.nan, "seconds must be in"),
])
def test_stream_bandwidth_rejects_bad_arguments(bytes_, seconds, message):
    with pytest.raises(ValueError, match=f"measure_stream_bandwidth: {message}"):
        _C.measure_stream_bandwidth(bytes_, seconds)
