"""The benchmark harness (bench/): its case table is consistent and a missing op is reported,
not fatal. No timing here: how fast things are lives in bench/README.md."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import cases  # noqa: E402
import run  # noqa: E402
from backends import make_backend  # noqa: E402


def test_case_names_are_unique():
    names = [case.name for case in cases.CASES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("convolution", cases.CONVOLUTIONS, ids=lambda c: c.name)
def test_convolution_shapes_match_torch(convolution):
    torch = pytest.importorskip("torch")
    # The meta device computes shapes without touching data, so the full-size cases cost nothing.
    input = torch.empty(convolution.batch, convolution.in_channels, convolution.size, convolution.size, device="meta")
    weight = torch.empty(convolution.weight_shape, device="meta")
    output = convolution.call(make_backend("torch"), input, weight, None)
    assert tuple(output.shape) == (convolution.batch, convolution.out_channels, convolution.output_size,
                                   convolution.output_size)


@pytest.mark.parametrize("model", cases.MODELS, ids=lambda m: m.name)
def test_torch_twins_match_the_models(model):
    """Each model's torch twin (bench/torch_models.py) has the same parameter tensors, by shape in
    order of creation, and the same output shape, so the two sides time the same network."""
    pytest.importorskip("torch")
    import numpy as np

    ours, theirs = model.create(make_backend("fastcnn")), model.create(make_backend("torch"))
    assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()]
    images = np.random.default_rng(0).standard_normal((2,) + model.sample_shape, dtype=np.float32)
    ours.eval(), theirs.eval()
    assert tuple(ours(make_backend("fastcnn").tensor(images)).shape) == \
        tuple(theirs(make_backend("torch").tensor(images)).shape) == (2, 10)


def test_convolution_flops_formula():
    dense = cases.Convolution("dense", 2, 3, 4, 5, 3, padding=1)
    assert dense.flops == 2 * 2 * 4 * 3 * 3 * 3 * 5 * 5
    depthwise = cases.Convolution("depthwise", 1, 8, 8, 6, 3, groups=8)
    assert depthwise.flops == 2 * 1 * 8 * 1 * 3 * 3 * 4 * 4
    transposed = cases.Convolution("transposed", 1, 4, 2, 5, 4, stride=2, padding=1, transposed=True)
    assert transposed.output_size == 10
    assert transposed.flops == 2 * 1 * 4 * 2 * 4 * 4 * 5 * 5


def test_missing_op_is_reported_as_unavailable():
    missing = cases.Case("missing", "layer", lambda backend: backend.F.no_such_op)
    closure, note = run.build(missing, make_backend("fastcnn"))
    assert closure is None
    assert note.startswith("unavailable: AttributeError")


def test_failing_op_is_reported_as_error():
    def build(backend):
        raise ValueError("bad shape")
    closure, note = run.build(cases.Case("failing", "layer", build), make_backend("fastcnn"))
    assert closure is None
    assert note == "error: ValueError: bad shape"


def test_relu_case_times_and_summarises():
    relu = next(case for case in cases.CASES if case.name == "relu fwd")
    closure, note = run.build(relu, make_backend("fastcnn"))
    assert note == ""
    samples = run.time_interleaved({"fastcnn": closure}, repeats=2)
    result = run.summarise(relu, samples, {"fma_gflops": 100.0, "stream_gbs": 10.0})
    assert result["bound"] == "bw"
    assert 0 < result["fastcnn"]["min_ms"] <= result["fastcnn"]["median_ms"]
