"""Checks for whole modules: parity with a torch twin that has the same parameter names (weights
copied through the state dicts) and finite differences on parameters."""
from __future__ import annotations

import numpy as np
import pytest

import fastcnn
from checks import projection_like


def copy_weights_to_torch(ours, theirs):
    """Loads our state dict into the torch twin; the parameter names must be the same."""
    torch = pytest.importorskip("torch")
    assert sorted(name for name, _ in ours.named_parameters()) == sorted(name for name, _ in theirs.named_parameters())
    state = ours.state_dict()
    theirs.load_state_dict({name: torch.tensor(np.array(state[name].detach().numpy())) if name in state else value
                            for name, value in theirs.state_dict().items()})
    return theirs


def module_torch_parity(ours, theirs, inputs, atol=1e-4, rtol=1e-4, output_index=None, dtype=np.float32):
    """Copies ours' weights into theirs, runs both on the same inputs, backpropagates the same
    random output weights and compares outputs, input gradients and parameter gradients.
    output_index picks one output of modules that return a tuple. With dtype float64 both modules
    are converted, which lets deep models be compared without float32 rounding drowning the check."""
    torch = pytest.importorskip("torch")
    if dtype == np.float64:
        ours.double()
        theirs.double()
    copy_weights_to_torch(ours, theirs)
    our_inputs = [fastcnn.tensor(np.asarray(x, dtype), requires_grad=True) for x in inputs]
    their_inputs = [torch.tensor(np.asarray(x, dtype), requires_grad=True) for x in inputs]
    output, their_output = ours(*our_inputs), theirs(*their_inputs)
    if output_index is not None:
        output, their_output = output[output_index], their_output[output_index]
    weights = projection_like(output.detach().numpy()).astype(dtype)
    output.backward(fastcnn.tensor(weights))
    their_output.backward(torch.tensor(weights))
    np.testing.assert_allclose(output.detach().numpy(), their_output.detach().numpy(), atol=atol, rtol=rtol)
    their_parameters = dict(theirs.named_parameters())
    pairs = [(f"input {i}", ours_input, their_input)
             for i, (ours_input, their_input) in enumerate(zip(our_inputs, their_inputs))]
    pairs += [(name, parameter, their_parameters[name]) for name, parameter in ours.named_parameters()]
    for name, ours_tensor, their_tensor in pairs:
        if their_tensor.grad is None:  # the output does not depend on it (attention weights on values)
            assert ours_tensor.grad is None or not ours_tensor.grad.numpy().any(), name
        else:
            np.testing.assert_allclose(ours_tensor.grad.numpy(), their_tensor.grad.numpy(), atol=atol, rtol=rtol,
                                       err_msg=name)


def check_parameter_gradients(module, inputs, names=None, eps=1e-6, atol=1e-6, rtol=1e-5, max_points=8, seed=0):
    """Central differences in float64 for the named parameters of module (all when names is None),
    at max_points random entries each. module must be float64 and deterministic (dropout off)."""
    parameters = dict(module.named_parameters())
    for parameter in parameters.values():
        parameter.grad = None
    tensors = [fastcnn.tensor(x, dtype=np.float64) for x in inputs]
    output = module(*tensors)
    weights = projection_like(output.data)
    output.backward(fastcnn.tensor(weights, dtype=np.float64))
    rng = np.random.default_rng(seed)
    for name in names or list(parameters):
        parameter = parameters[name]
        assert parameter.grad is not None, f"{name} got no gradient"
        for flat in rng.choice(parameter.numel(), size=min(max_points, parameter.numel()), replace=False):
            index = np.unravel_index(flat, tuple(parameter.shape))
            original = parameter.data[index]
            values = []
            for step in (eps, -eps):
                parameter.data[index] = original + step
                with fastcnn.no_grad():
                    values.append(float((module(*tensors).numpy() * weights).sum()))
            parameter.data[index] = original
            numeric = (values[0] - values[1]) / (2 * eps)
            analytic = parameter.grad.numpy()[index]
            assert abs(analytic - numeric) <= atol + rtol * abs(numeric), (
                f"{name} at {index}: autograd {analytic!r} vs finite differences {numeric!r}")
