"""Shared test machinery: finite-difference gradient checks and torch parity helpers.

Every op's tests use the same three checks: a NumPy reference written from the formulas
(reference.py), central finite differences in float64 (check_gradients) and, when torch is
installed, torch itself (torch_parity).
"""
from __future__ import annotations

import numpy as np
import pytest

import fastcnn


def projection_like(output: np.ndarray, seed: int = 1234) -> np.ndarray:
    """Random weights w: the checks differentiate L = sum(w * f(x)), so every output element
    (and its position) matters."""
    return np.random.default_rng(seed).standard_normal(output.shape)


def check_gradients(function, inputs, eps=1e-6, atol=1e-6, rtol=1e-5, max_points=60, seed=0):
    """Compares autograd's gradient of every float64 input with central differences.

    function maps Tensors to a Tensor; inputs are float64 NumPy arrays. At most max_points
    randomly chosen entries of each input are perturbed, which keeps large shapes quick.
    """
    tensors = [fastcnn.tensor(x, dtype=np.float64, requires_grad=True) for x in inputs]
    output = function(*tensors)
    weights = projection_like(output.data)
    output.backward(fastcnn.tensor(weights, dtype=np.float64))
    rng = np.random.default_rng(seed)
    for position, (x, tensor) in enumerate(zip(inputs, tensors)):
        assert tensor.grad is not None, f"input {position} got no gradient"
        analytic = tensor.grad.numpy()
        assert analytic.shape == x.shape
        flat_indices = rng.choice(x.size, size=min(max_points, x.size), replace=False)
        for flat in flat_indices:
            index = np.unravel_index(flat, x.shape)
            values = []
            for step in (eps, -eps):
                shifted = [np.array(v, dtype=np.float64, copy=True) for v in inputs]
                shifted[position][index] += step
                with fastcnn.no_grad():
                    out = function(*[fastcnn.tensor(v, dtype=np.float64) for v in shifted]).numpy()
                values.append(float((out * weights).sum()))
            numeric = (values[0] - values[1]) / (2 * eps)
            assert abs(analytic[index] - numeric) <= atol + rtol * abs(numeric), (
                f"input {position} at {index}: autograd {analytic[index]!r} vs finite differences {numeric!r}")


def run_with_grad(function, inputs, dtype=np.float32):
    """Runs function on fresh Tensors and backpropagates fixed random weights: returns
    (output, [input gradients]) as NumPy arrays, for comparison with references and torch."""
    tensors = [fastcnn.tensor(x, dtype=dtype, requires_grad=True) for x in inputs]
    output = function(*tensors)
    weights = projection_like(output.data).astype(dtype)
    output.backward(fastcnn.tensor(weights))
    return output.detach().numpy(), [t.grad.numpy() if t.grad is not None else None for t in tensors], weights


def torch_run_with_grad(function, inputs, weights):
    """The torch twin of run_with_grad (torch must be importable)."""
    torch = pytest.importorskip("torch")
    tensors = [torch.tensor(x, requires_grad=True) for x in inputs]
    output = function(*tensors)
    output.backward(torch.tensor(weights))
    return output.detach().numpy(), [t.grad.numpy() if t.grad is not None else None for t in tensors]


def torch_parity(ours, theirs, inputs, atol=1e-4, rtol=1e-4):
    """Same inputs and output weights through fastcnn and torch: outputs and input gradients match."""
    output, grads, weights = run_with_grad(ours, inputs)
    torch_output, torch_grads = torch_run_with_grad(theirs, [np.asarray(x, np.float32) for x in inputs], weights)
    np.testing.assert_allclose(output, torch_output, atol=atol, rtol=rtol)
    for grad, torch_grad in zip(grads, torch_grads):
        if torch_grad is not None:
            np.testing.assert_allclose(grad, torch_grad, atol=atol, rtol=rtol)


def run_under_isa(isa: str, script: str):
    """Runs a Python script in a fresh process with FASTCNN_ISA=isa (the kernel set is chosen once
    per process), with this fastcnn and the tests folder importable; fails if the script fails."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, FASTCNN_ISA=isa)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(fastcnn.__path__[0]), os.path.dirname(__file__),
                                         env.get("PYTHONPATH", "")])
    subprocess.run([sys.executable, "-c", f"import fastcnn\nassert fastcnn.config()['cpu_isa'] == {isa!r}\n" + script],
                   env=env, check=True)
