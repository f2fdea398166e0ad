import numpy as np
import pytest

import fastcnn
import fastcnn.nn.functional as F
from fastcnn import nn
from checks import check_gradients, run_with_grad, torch_parity
import reference

# (batch, in_channels, hidden, height, width, kernel): batch 1, odd and non-square maps, even and
# non-square kernels (torch's asymmetric 'same' padding).
CELL_CASES = [(2, 3, 4, 5, 6, 3), (1, 1, 2, 4, 4, 1), (3, 2, 3, 7, 5, (3, 5)), (2, 2, 2, 6, 5, 2)]


def _cell_inputs(batch, in_channels, hidden, height, width, kernel, peephole, seed=0):
    rng = np.random.default_rng(seed)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    arrays = [rng.standard_normal((batch, in_channels, height, width)),
              rng.standard_normal((batch, hidden, height, width)) * 0.5,
              rng.standard_normal((batch, hidden, height, width)),
              rng.standard_normal((4 * hidden, in_channels + hidden, kh, kw)) * 0.4,
              rng.standard_normal(4 * hidden) * 0.3]
    if peephole:
        arrays.append(rng.standard_normal((3, hidden, height, width)) * 0.5)
    return arrays


def _stacked_cell(*arrays):
    """F.convlstm_cell with (h, c) stacked into one output, so one check covers both."""
    return fastcnn.stack(F.convlstm_cell(*arrays), 0)


@pytest.mark.parametrize("case", CELL_CASES)
@pytest.mark.parametrize("peephole", [False, True])
def test_cell_matches_reference(case, peephole):
    arrays = _cell_inputs(*case, peephole)
    h, c = F.convlstm_cell(*[fastcnn.tensor(a, dtype=np.float64) for a in arrays])
    expected_h, expected_c = reference.convlstm_cell(*arrays)
    np.testing.assert_allclose(h.numpy(), expected_h, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c.numpy(), expected_c, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("scale", [30.0, 300.0, 3000.0])
def test_cell_saturates_on_extreme_preactivations(scale):
    arrays = _cell_inputs(2, 2, 3, 4, 5, 3, True, seed=1)
    arrays[3] = arrays[3] * scale
    # float32 rounds pre-activations of size ~scale to ~1e-7 * scale, hence its looser bound.
    for dtype, tolerance in ((np.float64, 1e-12), (np.float32, 1e-4)):
        h, c = F.convlstm_cell(*[fastcnn.tensor(a, dtype=dtype) for a in arrays])
        with np.errstate(over="ignore"):  # the reference's exp overflows to inf, which sigmoid maps to 0
            expected_h, expected_c = reference.convlstm_cell(*arrays)
        assert np.isfinite(h.numpy()).all() and np.isfinite(c.numpy()).all()
        np.testing.assert_allclose(h.numpy(), expected_h, rtol=tolerance, atol=tolerance)
        np.testing.assert_allclose(c.numpy(), expected_c, rtol=tolerance, atol=tolerance * scale)


@pytest.mark.parametrize("case", CELL_CASES[:3])
@pytest.mark.parametrize("peephole", [False, True])
def test_cell_gradient_finite_differences(case, peephole):
    check_gradients(_stacked_cell, _cell_inputs(*case, peephole), max_points=25)


@pytest.mark.parametrize("peephole", [False, True])
def test_backpropagation_through_time_finite_differences(peephole):
    """Three steps: every parameter and the initial state reach the loss along every path."""
    x, h, c, weight, bias, *peep = _cell_inputs(2, 2, 3, 4, 5, 3, peephole, seed=2)
    sequence = np.random.default_rng(3).standard_normal((3,) + x.shape)

    def unrolled(sequence, h, c, weight, bias, *peep):
        hiddens = []
        for step in range(3):
            h, c = F.convlstm_cell(sequence[step], h, c, weight, bias, *peep)
            hiddens.append(h)
        return fastcnn.stack(hiddens + [c], 0)

    check_gradients(unrolled, [sequence, h, c, weight, bias] + peep, max_points=25)


def _torch_cell(torch):
    def cell(x, h, c, weight, bias, peephole=None):
        gates = torch.nn.functional.conv2d(torch.cat([x, h], 1), weight, bias, padding="same")
        a_i, a_f, a_g, a_o = torch.chunk(gates, 4, dim=1)
        w_ci, w_cf, w_co = peephole if peephole is not None else (0, 0, 0)
        i, f = torch.sigmoid(a_i + w_ci * c), torch.sigmoid(a_f + w_cf * c)
        c_next = f * c + i * torch.tanh(a_g)
        o = torch.sigmoid(a_o + w_co * c_next)
        return torch.stack([o * torch.tanh(c_next), c_next], 0)
    return cell


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("case", CELL_CASES)
@pytest.mark.parametrize("peephole", [False, True])
def test_cell_matches_torch(case, peephole):
    torch = pytest.importorskip("torch")
    inputs = [a.astype(np.float32) for a in _cell_inputs(*case, peephole)]
    torch_parity(_stacked_cell, _torch_cell(torch), inputs, atol=1e-5, rtol=1e-4)


def test_cell_module_uses_its_parameters():
    fastcnn.manual_seed(0)
    cell = nn.ConvLSTMCell(3, 4, 3, peephole=True, spatial_size=(5, 6))
    with fastcnn.no_grad():
        cell.peephole_weight.copy_(np.random.default_rng(0).standard_normal((3, 4, 5, 6)))
    x = fastcnn.randn(2, 3, 5, 6)
    h, c = cell(x)
    zeros = np.zeros((2, 4, 5, 6))
    expected_h, expected_c = reference.convlstm_cell(x.numpy(), zeros, zeros, cell.conv.weight.detach().numpy(),
                                                     cell.conv.bias.detach().numpy(),
                                                     cell.peephole_weight.detach().numpy())
    np.testing.assert_allclose(h.detach().numpy(), expected_h, rtol=1e-5, atol=1e-6)
    h2, _ = cell(x, (h, c))
    (h2.sum()).backward()
    assert all(p.grad is not None for p in cell.parameters())
    assert [name for name, _ in cell.named_parameters()] == ["peephole_weight", "conv.weight", "conv.bias"]


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("hidden, kernel, layers", [(4, 3, 1), ([3, 5], [3, (1, 3)], 2), ((2, 2, 3), 3, 3)])
def test_convlstm_matches_reference(batch_first, hidden, kernel, layers):
    fastcnn.manual_seed(1)
    model = nn.ConvLSTM(2, hidden, kernel, num_layers=layers, batch_first=batch_first, return_all_layers=True).double()
    sequence = np.random.default_rng(4).standard_normal((3, 4, 2, 5, 6))  # (B, T, C, H, W)
    given = sequence if batch_first else sequence.transpose(1, 0, 2, 3, 4)
    outputs, states = model(fastcnn.tensor(given))
    layer_input = sequence
    for layer, cell in enumerate(model.cell_list):
        h = c = np.zeros((3, cell.hidden_channels, 5, 6))
        steps = []
        for t in range(4):
            h, c = reference.convlstm_cell(layer_input[:, t], h, c, cell.conv.weight.detach().numpy(),
                                           cell.conv.bias.detach().numpy())
            steps.append(h)
        layer_input = np.stack(steps, 1)
        got = outputs[layer].detach().numpy()
        np.testing.assert_allclose(got if batch_first else got.transpose(1, 0, 2, 3, 4), layer_input, rtol=1e-10,
                                   atol=1e-12)
        np.testing.assert_allclose(states[layer][0].detach().numpy(), h, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(states[layer][1].detach().numpy(), c, rtol=1e-10, atol=1e-12)


def test_convlstm_peephole_layers_match_reference():
    fastcnn.manual_seed(5)
    model = nn.ConvLSTM(2, [3, 2], 3, num_layers=2, peephole=True, spatial_size=(4, 5)).double()
    for cell in model.cell_list:
        cell.peephole_weight.data[:] = np.random.default_rng(6).standard_normal(cell.peephole_weight.shape)
    sequence = np.random.default_rng(7).standard_normal((2, 3, 2, 4, 5))
    output, _ = model(fastcnn.tensor(sequence))
    layer_input = sequence
    for cell in model.cell_list:
        h = c = np.zeros((2, cell.hidden_channels, 4, 5))
        steps = []
        for t in range(3):
            h, c = reference.convlstm_cell(layer_input[:, t], h, c, cell.conv.weight.detach().numpy(),
                                           cell.conv.bias.detach().numpy(), cell.peephole_weight.detach().numpy())
            steps.append(h)
        layer_input = np.stack(steps, 1)
    np.testing.assert_allclose(output.detach().numpy(), layer_input, rtol=1e-10, atol=1e-12)
    assert sum(name.endswith("peephole_weight") for name, _ in model.named_parameters()) == 2
    with pytest.raises(ValueError, match="peephole=True needs spatial_size"):
        nn.ConvLSTM(2, 3, 3, peephole=True)


def test_convlstm_returns_last_layer_and_carries_state():
    fastcnn.manual_seed(2)
    model = nn.ConvLSTM(1, [3, 2], 3, num_layers=2)
    x = fastcnn.randn(2, 5, 1, 4, 7)
    output, (h, c) = model(x)
    assert tuple(output.shape) == (2, 5, 2, 4, 7) and tuple(h.shape) == tuple(c.shape) == (2, 2, 4, 7)
    np.testing.assert_allclose(output[:, -1].detach().numpy(), h.detach().numpy())
    every_layer = nn.ConvLSTM(1, [3, 2], 3, num_layers=2, return_all_layers=True)
    every_layer.load_state_dict(model.state_dict())
    outputs, states = every_layer(x[:, :2])
    assert len(outputs) == len(states) == 2 and tuple(outputs[0].shape) == (2, 2, 3, 4, 7)
    rest, _ = model(x[:, 2:], states)
    np.testing.assert_allclose(rest.detach().numpy(), output[:, 2:].detach().numpy(), rtol=1e-5, atol=1e-6)


def test_convlstm_input_gradient_finite_differences():
    fastcnn.manual_seed(3)
    model = nn.ConvLSTM(2, [3, 2], 3, num_layers=2).double()
    check_gradients(lambda x: model(x)[0], [np.random.default_rng(5).standard_normal((2, 3, 2, 4, 5))],
                    max_points=30)


def test_convlstm_float32_gradients_match_float64():
    fastcnn.manual_seed(4)
    model = nn.ConvLSTM(1, 3, 3)
    x = np.random.default_rng(6).standard_normal((2, 4, 1, 5, 5))
    out32, (grad32,), _ = run_with_grad(lambda t: model(t)[0], [x])
    out64, (grad64,), _ = run_with_grad(lambda t: model.double()(t)[0], [x], dtype=np.float64)
    np.testing.assert_allclose(out32, out64, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grad32, grad64, rtol=1e-3, atol=1e-5)


def _unrolled_convlstm(batch_first, hidden_channels, cell_step, stack, tensor):
    """ConvLSTM's forward written out over its steps sliced one by one (x[:, t] or x[t]), in
    fastcnn or torch: cell_step(x, h, c, weight, bias, peephole) -> (h, c); parameters in the
    order of ConvLSTM.parameters() (per layer: peephole, weight, bias)."""
    time_dim = 1 if batch_first else 0

    def run(x, *parameters):
        steps = [x[:, t] if batch_first else x[t] for t in range(x.shape[time_dim])]
        for layer, hidden in enumerate(hidden_channels):
            peephole, weight, bias = parameters[3 * layer:3 * layer + 3]
            batch, _, height, width = steps[0].shape
            h = c = tensor(np.zeros((batch, hidden, height, width)))
            hiddens = []
            for step in steps:
                h, c = cell_step(step, h, c, weight, bias, peephole)
                hiddens.append(h)
            steps = hiddens
        return stack(steps, time_dim), c
    return run


@pytest.mark.parametrize("batch_first", [True, False])
def test_convlstm_gradients_match_the_cell_unrolled_over_sliced_steps(batch_first):
    """ConvLSTM takes its time steps with one unbind; its output and its sequence and parameter
    gradients are those of the cell unrolled over steps sliced one by one: in fastcnn (the
    model's former path) and in torch (_torch_cell)."""
    fastcnn.manual_seed(8)
    hidden = [3, 2]
    model = nn.ConvLSTM(2, hidden, 3, num_layers=2, batch_first=batch_first, peephole=True,
                        spatial_size=(4, 5)).double()
    rng = np.random.default_rng(9)
    with fastcnn.no_grad():
        for cell in model.cell_list:
            cell.peephole_weight.copy_(rng.standard_normal(cell.peephole_weight.shape) * 0.5)
    sequence = rng.standard_normal((2, 4, 2, 4, 5))
    given = sequence if batch_first else sequence.transpose(1, 0, 2, 3, 4)
    parameters = [p.detach().numpy() for p in model.parameters()]
    output_weights = rng.standard_normal(given.shape[:2] + (hidden[-1], 4, 5))
    cell_weights = rng.standard_normal((2, hidden[-1], 4, 5))

    def run_with_loss(run, tensor, inputs):
        tensors = [tensor(array, requires_grad=True) for array in inputs]
        output, cell_state = run(*tensors)
        ((output * tensor(output_weights)).sum() + (cell_state * tensor(cell_weights)).sum()).backward()
        return output.detach().numpy(), [t.grad.numpy() for t in tensors]

    x = fastcnn.tensor(given, requires_grad=True)
    output, (_, cell_state) = model(x)
    ((output * fastcnn.tensor(output_weights)).sum() + (cell_state * fastcnn.tensor(cell_weights)).sum()).backward()
    grads = [x.grad.numpy()] + [p.grad.numpy() for p in model.parameters()]
    unrolled = _unrolled_convlstm(batch_first, hidden, F.convlstm_cell, fastcnn.stack, fastcnn.tensor)
    expected_output, expected_grads = run_with_loss(unrolled, fastcnn.tensor, [given] + parameters)
    np.testing.assert_array_equal(output.detach().numpy(), expected_output)
    for grad, expected in zip(grads, expected_grads):
        np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-14)
    torch = pytest.importorskip("torch")
    torch_cell = _torch_cell(torch)
    unrolled = _unrolled_convlstm(batch_first, hidden, lambda *arrays: torch_cell(*arrays).unbind(0), torch.stack,
                                  torch.tensor)
    torch_output, torch_grads = run_with_loss(unrolled, torch.tensor, [given] + parameters)
    np.testing.assert_allclose(output.detach().numpy(), torch_output, rtol=1e-10, atol=1e-12)
    for grad, expected in zip(grads, torch_grads):
        np.testing.assert_allclose(grad, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(2, 1, 4, 4), (2, 3, 1, 4, 4, 1), (3,)])
def test_convlstm_rejects_wrong_rank(shape):
    with pytest.raises(ValueError, match=r"ConvLSTM: input must be a 5-D sequence \(B, T, C, H, W\)"):
        nn.ConvLSTM(1, 2, 3)(fastcnn.zeros(*shape))


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match=r"ConvLSTM: input has 2 channels but the layer expects 1"):
        nn.ConvLSTM(1, 2, 3)(fastcnn.zeros(1, 2, 2, 4, 4))
    with pytest.raises(ValueError, match="ConvLSTM: hidden_channels lists 2 layers but num_layers is 3"):
        nn.ConvLSTM(1, [2, 3], 3, num_layers=3)
    with pytest.raises(ValueError, match="ConvLSTMCell: peephole=True needs spatial_size"):
        nn.ConvLSTMCell(1, 2, 3, peephole=True)
    with pytest.raises(ValueError, match=r"ConvLSTMCell: the peepholes cover \(4, 4\) maps"):
        nn.ConvLSTMCell(1, 2, 3, peephole=True, spatial_size=4)(fastcnn.zeros(1, 1, 5, 4))
    with pytest.raises(ValueError, match=r"ConvLSTMCell: input must be \(B, 1, H, W\)"):
        nn.ConvLSTMCell(1, 2, 3)(fastcnn.zeros(1, 1, 5))
    x, h, c, weight, bias = [fastcnn.tensor(a) for a in _cell_inputs(2, 3, 4, 5, 6, 3, False)]
    with pytest.raises(ValueError, match="convlstm_cell: input and state differ"):
        F.convlstm_cell(x[:1], h, c, weight, bias)
    with pytest.raises(ValueError, match="convlstm_cell: weight must be"):
        F.convlstm_cell(x, h, c, weight[:8], bias)
    with pytest.raises(TypeError, match="convlstm_cell: hidden has dtype float32 but input has float64"):
        F.convlstm_cell(x, h.float(), c, weight, bias)


def test_native_gate_kernel_validates_arguments():
    gates, cell = np.zeros((2, 8, 3, 3), np.float32), np.zeros((2, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"convlstm_gates: gates must have shape \(N, 4 \* hidden, H, W\)"):
        fastcnn._C.convlstm_gates_forward(np.zeros((2, 7, 3, 3), np.float32), cell, None)
    with pytest.raises(ValueError, match=r"convlstm_gates: peephole must have shape \(3, 2, 3, 3\)"):
        fastcnn._C.convlstm_gates_forward(gates, cell, np.zeros((3, 2, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"convlstm_gates: grad_state must have shape \(2, 2, 2, 3, 3\)"):
        fastcnn._C.convlstm_gates_backward(gates, cell, None, np.zeros((2, 2, 2, 3, 4), np.float32))
    with pytest.raises(TypeError, match="convlstm_gates: gates must be float32 or float64"):
        fastcnn._C.convlstm_gates_forward(gates.astype(np.int64), cell, None)
    with pytest.raises(TypeError, match="convlstm_gates: cell has dtype float64"):
        fastcnn._C.convlstm_gates_forward(gates, cell.astype(np.float64), None)
