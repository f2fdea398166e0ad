"""Optimisers and schedulers step by step against torch on identical parameters and gradients,
state_dict round trips, and argument checks."""
import numpy as np
import pytest

import fastcnn
import fastcnn.nn as nn
from fastcnn import optim

SHAPES = [(4, 3), (3,), (2, 3, 2, 2)]
STEPS = 6


def _initial_values(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32) for shape in SHAPES]


def _gradients(step):
    rng = np.random.default_rng(100 + step)
    return [rng.standard_normal(shape).astype(np.float32) for shape in SHAPES]


def _run_ours(make, values, steps=STEPS, start=0, optimizer=None, params=None):
    params = params or [nn.Parameter(v.copy()) for v in values]
    optimizer = optimizer or make([{"params": params[:2]}, {"params": params[2:], "lr": 0.05}])
    trajectory = []
    for step in range(start, start + steps):
        for param, grad in zip(params, _gradients(step)):
            param.grad = fastcnn.tensor(grad)
        optimizer.step()
        trajectory.append([p.data.copy() for p in params])
    return trajectory, optimizer, params


def _run_torch(torch, make, values, steps=STEPS):
    params = [torch.nn.Parameter(torch.tensor(v)) for v in values]
    optimizer = make([{"params": params[:2]}, {"params": params[2:], "lr": 0.05}])
    trajectory = []
    for step in range(steps):
        for param, grad in zip(params, _gradients(step)):
            param.grad = torch.tensor(grad)
        optimizer.step()
        trajectory.append([p.detach().numpy().copy() for p in params])
    return trajectory, optimizer


CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.5, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.05, amsgrad=True, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
]


@pytest.mark.parametrize("name, arguments", CONFIGS, ids=[f"{n}-{sorted(a)}" for n, a in CONFIGS])
def test_optimizer_matches_torch_step_by_step(name, arguments):
    torch = pytest.importorskip("torch")
    values = _initial_values()
    ours, _, _ = _run_ours(lambda p: getattr(optim, name)(p, **arguments), values)
    theirs, _ = _run_torch(torch, lambda p: getattr(torch.optim, name)(p, **arguments), values)
    for step, (our_params, their_params) in enumerate(zip(ours, theirs)):
        for mine, reference in zip(our_params, their_params):
            np.testing.assert_allclose(mine, reference, rtol=1e-5, atol=1e-6, err_msg=f"step {step}")


def _sgd_reference(values, lr, momentum, steps):
    """SGD with momentum written out from its definition (b = momentum * b + g; p -= lr * b)."""
    params, buffers = [v.astype(np.float64) for v in values], None
    for step in range(steps):
        grads = _gradients(step)
        buffers = grads if buffers is None else [momentum * b + g for b, g in zip(buffers, grads)]
        params = [p - lr * b for p, b in zip(params, buffers)]
    return params


def test_sgd_momentum_matches_its_definition():
    values = _initial_values()
    params = [nn.Parameter(v.copy()) for v in values]
    trajectory, _, _ = _run_ours(None, values, optimizer=optim.SGD(params, lr=0.1, momentum=0.9), params=params)
    for mine, reference in zip(trajectory[-1], _sgd_reference(values, 0.1, 0.9, STEPS)):
        np.testing.assert_allclose(mine, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", [lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
                                  lambda p: optim.Adam(p, lr=0.01, amsgrad=True),
                                  lambda p: optim.AdamW(p, lr=0.01)], ids=["SGD", "Adam", "AdamW"])
def test_state_dict_round_trip_continues_identically(make, tmp_path):
    values = _initial_values()
    reference, _, _ = _run_ours(make, values, steps=5)
    first, optimizer, params = _run_ours(make, values, steps=3)
    fastcnn.save(optimizer.state_dict(), tmp_path / "optimizer.npz")
    resumed_params = [nn.Parameter(p.data.copy()) for p in params]
    resumed = make([{"params": resumed_params[:2]}, {"params": resumed_params[2:], "lr": 0.05}])
    resumed.load_state_dict(fastcnn.load(tmp_path / "optimizer.npz"))
    rest, _, _ = _run_ours(None, None, steps=2, start=3, optimizer=resumed, params=resumed_params)
    for mine, expected in zip(rest[-1], reference[-1]):
        np.testing.assert_array_equal(mine, expected)
    assert resumed.param_groups[1]["lr"] == 0.05


def test_torch_optimizer_state_dict_loads_and_continues():
    torch = pytest.importorskip("torch")
    values = _initial_values()
    make = dict(lr=0.01, amsgrad=True)
    theirs, their_optimizer = _run_torch(torch, lambda p: torch.optim.Adam(p, **make), values, steps=3)
    params = [nn.Parameter(v.copy()) for v in theirs[-1]]
    ours = optim.Adam([{"params": params[:2]}, {"params": params[2:], "lr": 0.05}], **make)
    ours.load_state_dict(their_optimizer.state_dict())
    assert ours.state[params[0]]["step"] == 3.0
    continued, _, _ = _run_ours(None, None, steps=1, start=3, optimizer=ours, params=params)
    expected, _ = _run_torch(torch, lambda p: torch.optim.Adam(p, **make), values, steps=4)
    for mine, reference in zip(continued[-1], expected[-1]):
        np.testing.assert_allclose(mine, reference, rtol=1e-5, atol=1e-6)


def test_parameters_without_gradients_are_left_alone_and_zero_grad_clears():
    frozen, trained = nn.Parameter(fastcnn.ones(2)), nn.Parameter(fastcnn.ones(2))
    optimizer = optim.Adam([frozen, trained], lr=0.1)
    trained.grad = fastcnn.ones(2)
    optimizer.step()
    assert (frozen.data == 1).all() and (trained.data < 1).all() and frozen not in optimizer.state
    optimizer.zero_grad(set_to_none=False)
    assert not trained.grad.data.any()
    optimizer.zero_grad()
    assert trained.grad is None


def test_step_runs_the_closure_with_gradients_enabled():
    weight = nn.Parameter(fastcnn.tensor([2.0]))
    optimizer = optim.SGD([weight], lr=0.25)

    def closure():
        optimizer.zero_grad()
        loss = (weight * weight).sum()
        loss.backward()
        return loss

    with fastcnn.no_grad():
        loss = optimizer.step(closure)
    assert loss.item() == 4.0 and weight.data[0] == pytest.approx(1.0)


def test_add_param_group_fills_defaults():
    optimizer = optim.SGD([nn.Parameter(fastcnn.ones(1))], lr=0.1, momentum=0.9)
    optimizer.add_param_group({"params": nn.Parameter(fastcnn.ones(2)), "lr": 0.01})
    assert optimizer.param_groups[1]["momentum"] == 0.9 and optimizer.param_groups[1]["lr"] == 0.01
    state = optimizer.state_dict()
    assert [group["params"] for group in state["param_groups"]] == [[0], [1]]


@pytest.mark.parametrize("call, error, message", [
    (lambda p: optim.SGD(p, lr=-1.0), ValueError, "Invalid learning rate"),
    (lambda p: optim.SGD(p, momentum=-0.1), ValueError, "Invalid momentum"),
    (lambda p: optim.SGD(p, nesterov=True), ValueError, "Nesterov momentum requires"),
    (lambda p: optim.Adam(p, betas=(0.9, 1.0)), ValueError, "Invalid beta parameter at index 1"),
    (lambda p: optim.Adam(p, eps=-1e-8), ValueError, "Invalid epsilon"),
    (lambda p: optim.AdamW(p, weight_decay=-1), ValueError, "Invalid weight_decay"),
    (lambda p: optim.SGD([]), ValueError, "empty parameter list"),
    (lambda p: optim.SGD(p[0]), TypeError, "iterable of Tensors"),
    (lambda p: optim.SGD(set(p)), TypeError, "ordered collections"),
    (lambda p: optim.SGD([p[0], p[0]]), ValueError, "more than one parameter group"),
    (lambda p: optim.SGD([p[0] * 2]), ValueError, "non-leaf"),
    (lambda p: optim.SGD([np.ones(2)]), TypeError, "can only optimize Tensors"),
])
def test_bad_arguments_raise(call, error, message):
    with pytest.raises(error, match=message):
        call([nn.Parameter(fastcnn.ones(2))])


def test_load_state_dict_rejects_mismatched_groups():
    optimizer = optim.SGD([nn.Parameter(fastcnn.ones(1)), nn.Parameter(fastcnn.ones(1))], lr=0.1)
    other = optim.SGD([nn.Parameter(fastcnn.ones(1))], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size"):
        other.load_state_dict(optimizer.state_dict())
    other.add_param_group({"params": [nn.Parameter(fastcnn.ones(1))]})
    with pytest.raises(ValueError, match="parameter groups"):
        other.load_state_dict(optimizer.state_dict())


# --- schedulers -------------------------------------------------------------------------------------
SCHEDULERS = [
    ("StepLR", dict(step_size=3)),
    ("StepLR", dict(step_size=2, gamma=0.5)),
    ("CosineAnnealingLR", dict(T_max=4)),
    ("CosineAnnealingLR", dict(T_max=5, eta_min=0.01)),
]


def _learning_rates(module, optimizer_class, scheduler_name, arguments, steps=13):
    params = [module.nn.Parameter(module.ones(2)), module.nn.Parameter(module.ones(2))]
    optimizer = optimizer_class([{"params": params[:1]}, {"params": params[1:], "lr": 0.3}], lr=0.1)
    scheduler = getattr(module.optim.lr_scheduler, scheduler_name)(optimizer, **arguments)
    rates = [scheduler.get_last_lr()]
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        rates.append(scheduler.get_last_lr())
    return rates, scheduler


@pytest.mark.parametrize("name, arguments", SCHEDULERS, ids=[f"{n}-{sorted(a.items())}" for n, a in SCHEDULERS])
def test_scheduler_matches_torch(name, arguments):
    torch = pytest.importorskip("torch")
    ours, _ = _learning_rates(fastcnn, optim.SGD, name, arguments)
    theirs, _ = _learning_rates(torch, torch.optim.SGD, name, arguments)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


def test_cosine_annealing_reaches_eta_min_at_t_max():
    rates, _ = _learning_rates(fastcnn, optim.SGD, "CosineAnnealingLR", dict(T_max=4, eta_min=0.02), steps=4)
    assert rates[0] == [0.1, 0.3] and rates[4] == pytest.approx([0.02, 0.02])


@pytest.mark.parametrize("name, arguments", SCHEDULERS[1:3])
def test_scheduler_state_dict_round_trip(name, arguments):
    reference, _ = _learning_rates(fastcnn, optim.SGD, name, arguments, steps=8)
    _, scheduler = _learning_rates(fastcnn, optim.SGD, name, arguments, steps=5)
    state = scheduler.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 5
    optimizer = scheduler.optimizer
    resumed = getattr(optim.lr_scheduler, name)(optimizer, **arguments, last_epoch=4)
    resumed.load_state_dict(state)
    for _ in range(3):
        optimizer.step()
        resumed.step()
    assert resumed.get_last_lr() == pytest.approx(reference[-1])


def test_scheduler_checks_its_arguments():
    with pytest.raises(TypeError, match="is not an Optimizer"):
        optim.lr_scheduler.StepLR(object(), step_size=1)
    optimizer = optim.SGD([nn.Parameter(fastcnn.ones(1))], lr=0.1)
    with pytest.raises(KeyError, match="initial_lr"):
        optim.lr_scheduler.StepLR(optimizer, step_size=1, last_epoch=3)
