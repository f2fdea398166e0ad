"""nn.Module machinery: registration, traversal, modes, state_dict, containers, hooks, dtype
conversion, and torch compatibility of names, shapes and printing."""
from collections import OrderedDict

import numpy as np
import pytest

import fastcnn
import fastcnn.nn as nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.scale = nn.Parameter(fastcnn.ones(3))
        self.register_buffer("count", fastcnn.zeros(1))
        self.register_buffer("scratch", fastcnn.zeros(2), persistent=False)

    def forward(self, x):
        return self.linear(x) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Block()
        self.second = Block()
        self.shared = self.first.linear
        self.head = nn.Linear(3, 2, bias=False)

    def forward(self, x):
        return self.head(self.first(x) + self.second(x))


# --- Parameter ------------------------------------------------------------------------------------
def test_parameter_is_a_tensor_that_requires_grad_and_shares_storage():
    tensor = fastcnn.zeros(2, 3)
    param = nn.Parameter(tensor)
    assert isinstance(param, fastcnn.Tensor) and param.requires_grad and param.is_leaf
    tensor.data[0, 0] = 5.0
    assert param.data[0, 0] == 5.0
    assert not nn.Parameter(tensor, requires_grad=False).requires_grad
    assert repr(param).startswith("Parameter containing:")


def test_parameter_of_integers_cannot_require_grad():
    with pytest.raises(TypeError, match="requires_grad"):
        nn.Parameter(np.arange(3))


# --- registration and traversal -------------------------------------------------------------------
def test_named_parameters_use_dotted_names_and_skip_duplicates():
    names = [name for name, _ in Net().named_parameters()]
    assert names == ["first.scale", "first.linear.weight", "first.linear.bias", "second.scale",
                     "second.linear.weight", "second.linear.bias", "head.weight"]
    assert len(list(Net().parameters())) == 7


def test_named_modules_children_and_buffers():
    net = Net()
    # As torch: a module reachable under two names is one child each time but one module overall.
    assert [name for name, _ in net.named_children()] == ["first", "second", "shared", "head"]
    assert [name for name, _ in net.named_modules()] == ["", "first", "first.linear", "second", "second.linear",
                                                         "head"]
    assert [name for name, _ in net.named_buffers()] == ["first.count", "first.scratch", "second.count",
                                                         "second.scratch"]
    assert net.get_submodule("first.linear") is net.first.linear
    assert net.head.bias is None


def test_reassignment_moves_a_name_between_registries():
    block = Block()
    block.scale = None
    assert block.scale is None and "scale" not in dict(block.named_parameters())
    block.linear = nn.Identity()
    assert list(dict(block.named_parameters())) == []
    block.count = fastcnn.ones(1)
    assert block.count.data[0] == 1.0 and "count" in dict(block.named_buffers())
    del block.linear
    assert "linear" not in dict(block.named_children())


@pytest.mark.parametrize("name, value, error", [
    ("scale", fastcnn.ones(3), TypeError),
    ("linear", 3, TypeError),
    ("count", np.zeros(1), TypeError),
])
def test_assigning_the_wrong_kind_to_a_registered_name_raises(name, value, error):
    with pytest.raises(error, match=name):
        setattr(Block(), name, value)


def test_registering_before_init_or_with_a_dotted_name_raises():
    class Broken(nn.Module):
        def __init__(self):
            self.weight = nn.Parameter(fastcnn.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Broken()
    with pytest.raises(KeyError, match="name can.+t contain"):
        nn.Module().register_buffer("a.b", fastcnn.ones(1))


def test_missing_attribute_names_the_module():
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'gamma'"):
        nn.Linear(2, 2).gamma


# --- modes, gradients, apply, to ------------------------------------------------------------------
def test_train_and_eval_reach_every_submodule():
    net = Net().eval()
    assert not any(module.training for module in net.modules())
    assert all(module.training for module in net.train().modules())
    with pytest.raises(ValueError, match="bool"):
        net.train("yes")


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    net = Net()
    net(fastcnn.randn(5, 4)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=set_to_none)
    for param in net.parameters():
        assert param.grad is None if set_to_none else not param.grad.data.any()


def test_apply_visits_children_before_parents():
    visited = []
    Net().apply(lambda module: visited.append(type(module).__name__))
    assert visited == ["Linear", "Block", "Linear", "Block", "Linear", "Linear", "Net"]


def test_to_converts_floating_parameters_buffers_and_gradients():
    net = Net()
    net(fastcnn.randn(2, 4)).sum().backward()
    assert net.to(fastcnn.float64) is net
    assert all(t.dtype == np.float64 for t in list(net.parameters()) + list(net.buffers()))
    assert all(p.grad.dtype == np.float64 for p in net.parameters())
    assert net(fastcnn.randn(2, 4, dtype=fastcnn.float64)).dtype == np.float64
    assert net.to("cpu").float().first.scale.dtype == np.float32
    with pytest.raises(RuntimeError, match="cuda"):
        net.to("cuda")
    with pytest.raises(TypeError, match="floating point"):
        net.to(fastcnn.int64)


def test_forward_hooks_run_and_can_be_removed():
    linear = nn.Linear(2, 2)
    seen = []
    handle = linear.register_forward_hook(lambda module, args, output: seen.append(output.shape) or output * 0)
    pre = linear.register_forward_pre_hook(lambda module, args: (args[0] * 0,))
    x = fastcnn.ones(3, 2)
    assert not linear(x).data.any() and seen == [(3, 2)]
    handle.remove()
    pre.remove()
    np.testing.assert_allclose(linear(x).data, (x.data @ linear.weight.data.T) + linear.bias.data, rtol=1e-6)


# --- state_dict -----------------------------------------------------------------------------------
def test_state_dict_holds_parameters_and_persistent_buffers_in_order():
    state = Net().state_dict()
    assert list(state) == ["first.scale", "first.count", "first.linear.weight", "first.linear.bias", "second.scale",
                           "second.count", "second.linear.weight", "second.linear.bias", "shared.weight",
                           "shared.bias", "head.weight"]
    assert all(not value.requires_grad for value in state.values())
    assert Net().state_dict(keep_vars=True)["head.weight"].requires_grad


@pytest.mark.parametrize("convert", [lambda t: t, lambda t: t.numpy().copy(), lambda t: t.numpy().tolist()],
                         ids=["tensor", "ndarray", "list"])
def test_state_dict_round_trip_reproduces_outputs(convert):
    fastcnn.manual_seed(0)
    source, target = Net(), Net()
    x = fastcnn.randn(3, 4)
    result = target.load_state_dict({key: convert(value) for key, value in source.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(target(x).data, source(x).data)


def test_load_state_dict_copies_instead_of_aliasing():
    source, target = nn.Linear(2, 2), nn.Linear(2, 2)
    target.load_state_dict(source.state_dict())
    source.weight.data[...] = 7.0
    assert not (target.weight.data == 7.0).any()


def test_strict_loading_reports_missing_and_unexpected_keys():
    state = Net().state_dict()
    del state["head.weight"]
    state["head.bias"] = np.zeros(2, np.float32)
    with pytest.raises(RuntimeError, match=r'(?s)Error\(s\) in loading state_dict for Net.*Missing key\(s\) in '
                                           r'state_dict: "head.weight".*Unexpected key\(s\) in state_dict: "head.bias"'):
        Net().load_state_dict(state)
    result = Net().load_state_dict(state, strict=False)
    assert result.missing_keys == ["head.weight"] and result.unexpected_keys == ["head.bias"]


@pytest.mark.parametrize("strict", [True, False])
def test_shape_mismatch_always_raises(strict):
    state = nn.Linear(3, 2).state_dict()
    with pytest.raises(RuntimeError, match=r"size mismatch for weight: copying a param with shape \(2, 3\) from "
                                           r"checkpoint, the shape in current model is \(2, 4\)"):
        nn.Linear(4, 2).load_state_dict(state, strict=strict)


def test_load_state_dict_casts_to_the_parameter_dtype():
    linear = nn.Linear(2, 2)
    linear.load_state_dict({"weight": np.ones((2, 2)), "bias": np.zeros(2)})
    assert linear.weight.dtype == np.float32 and linear.weight.data.sum() == 4.0


# --- containers -----------------------------------------------------------------------------------
def test_sequential_indexing_slicing_and_editing():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 4))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and isinstance(seq[1:], nn.Sequential)
    assert len(seq[1:]) == 2 and seq[1:][0] is seq[1]
    seq.append(nn.Tanh())
    del seq[1]
    assert [name for name, _ in seq.named_children()] == ["0", "1", "2"]
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    seq[2] = nn.Sigmoid()
    seq.insert(0, nn.Identity())
    assert [type(m).__name__ for m in seq] == ["Identity", "Linear", "Linear", "Sigmoid"]
    assert seq(fastcnn.randn(5, 2)).shape == (5, 4)
    with pytest.raises(IndexError, match="out of range"):
        seq[4]


def test_sequential_from_an_ordered_dict_keeps_names():
    seq = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(seq.state_dict()) == ["fc.weight", "fc.bias"] and seq.fc is seq[0]


def test_module_list_and_module_dict_register_their_members():
    layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
    layers += [nn.Linear(2, 1)]
    layers.insert(0, nn.ReLU())
    assert len(layers) == 4 and isinstance(layers[0], nn.ReLU) and len(layers[1:]) == 3
    assert len(list(layers.parameters())) == 6
    del layers[0]
    assert [name for name, _ in layers.named_children()] == ["0", "1", "2"]
    heads = nn.ModuleDict({"a": nn.Linear(2, 2)})
    heads["b"] = nn.Linear(2, 3)
    assert "b" in heads and list(heads) == ["a", "b"] and len(heads) == 2
    assert list(heads.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias"]
    assert isinstance(heads.pop("a"), nn.Linear) and list(heads.keys()) == ["b"]


def test_flatten_and_identity():
    x = fastcnn.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60) and nn.Flatten(0, 2)(x).shape == (24, 5)
    assert nn.Identity(7, key="ignored")(x) is x


# --- torch compatibility --------------------------------------------------------------------------
def _torch_pairs(torch):
    """(fastcnn module, torch module) built with the same arguments."""
    tnn = torch.nn
    return [
        (nn.Linear(5, 3), tnn.Linear(5, 3)),
        (nn.Linear(5, 3, bias=False), tnn.Linear(5, 3, bias=False)),
        (nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), tnn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)),
        (nn.Conv2d(3, 8, (3, 5), padding="same", dilation=2, bias=False),
         tnn.Conv2d(3, 8, (3, 5), padding="same", dilation=2, bias=False)),
        (nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1, output_padding=1, groups=2),
         tnn.ConvTranspose2d(4, 6, 4, stride=2, padding=1, output_padding=1, groups=2)),
        (nn.BatchNorm2d(7), tnn.BatchNorm2d(7)),
        (nn.BatchNorm2d(7, bias=False), tnn.BatchNorm2d(7, bias=False)),
        (nn.BatchNorm1d(3, momentum=None, affine=False), tnn.BatchNorm1d(3, momentum=None, affine=False)),
        (nn.BatchNorm2d(3, track_running_stats=False), tnn.BatchNorm2d(3, track_running_stats=False)),
        (nn.MaxPool2d(3, 2, 1), tnn.MaxPool2d(3, 2, 1)),
        (nn.AvgPool2d(2), tnn.AvgPool2d(2)),
        (nn.AdaptiveAvgPool2d((2, 3)), tnn.AdaptiveAvgPool2d((2, 3))),
        (nn.AdaptiveMaxPool2d(1), tnn.AdaptiveMaxPool2d(1)),
        (nn.Dropout(0.3), tnn.Dropout(0.3)),
        (nn.LeakyReLU(0.2), tnn.LeakyReLU(0.2)),
        (nn.GELU("tanh"), tnn.GELU("tanh")),
        (nn.Softmax(dim=1), tnn.Softmax(dim=1)),
        (nn.LogSoftmax(dim=-1), tnn.LogSoftmax(dim=-1)),
        (nn.Flatten(), tnn.Flatten()),
        (nn.CrossEntropyLoss(), tnn.CrossEntropyLoss()),
    ]


def test_names_shapes_and_repr_match_torch():
    torch = pytest.importorskip("torch")
    for ours, theirs in _torch_pairs(torch):
        assert repr(ours) == repr(theirs)
        assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == \
               {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
        assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]


def test_digits_cnn_matches_its_torch_twin():
    torch = pytest.importorskip("torch")
    from fastcnn.models import digits_cnn
    tnn = torch.nn
    theirs = tnn.Sequential(OrderedDict([
        ("conv1", tnn.Conv2d(1, 32, 3, padding=1)), ("bn1", tnn.BatchNorm2d(32)), ("relu1", tnn.ReLU()),
        ("conv2", tnn.Conv2d(32, 64, 3, padding=1)), ("bn2", tnn.BatchNorm2d(64)), ("relu2", tnn.ReLU()),
        ("pool", tnn.MaxPool2d(2)), ("dropout", tnn.Dropout(0.25)), ("flatten", tnn.Flatten()),
        ("fc", tnn.Linear(1024, 10))]))
    ours = digits_cnn()
    assert repr(ours) == repr(theirs)
    ours.load_state_dict(theirs.state_dict())
    for key, value in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[key].numpy(), value.numpy())


def test_load_torch_state_dict_into_linear_sequential():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    ours = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))
    ours.load_state_dict(theirs.state_dict())
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    np.testing.assert_allclose(ours(fastcnn.tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})


def test_batch_norm_buffers_load_from_torch():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.BatchNorm2d(3)
    theirs.train()(torch.randn(4, 3, 2, 2))
    ours = nn.BatchNorm2d(3)
    ours.load_state_dict(theirs.state_dict())
    assert int(ours.num_batches_tracked.item()) == 1 and ours.num_batches_tracked.dtype == np.int64
    np.testing.assert_array_equal(ours.running_var.numpy(), theirs.running_var.numpy())


@pytest.mark.parametrize("arguments, message", [
    (dict(in_channels=3, out_channels=4, kernel_size=3, groups=2), "in_channels must be divisible by groups"),
    (dict(in_channels=4, out_channels=3, kernel_size=3, groups=2), "out_channels must be divisible by groups"),
    (dict(in_channels=3, out_channels=4, kernel_size=3, groups=0), "groups must be a positive integer"),
    (dict(in_channels=3, out_channels=4, kernel_size=3, padding="full"), "invalid padding string"),
    (dict(in_channels=3, out_channels=4, kernel_size=3, padding="same", stride=2), "strided convolutions"),
    (dict(in_channels=3, out_channels=4, kernel_size=3, padding_mode="reflect"), "padding_mode"),
    (dict(in_channels=3, out_channels=4, kernel_size=(3, 3, 3)), "kernel_size must be an int or a pair"),
])
def test_conv2d_rejects_bad_arguments(arguments, message):
    with pytest.raises((ValueError, TypeError), match=message):
        nn.Conv2d(**arguments)


def test_dropout_and_loss_reject_bad_arguments():
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")
    assert nn.NLLLoss(size_average=False).reduction == "sum"
