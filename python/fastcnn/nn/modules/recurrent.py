"""ConvLSTMCell and ConvLSTM (Shi et al. 2015, "Convolutional LSTM Network").

The cell computes, with * a 'same' convolution and o the Hadamard product,
    i = sigma(W_xi * X + W_hi * H + w_ci o C + b_i)      f = sigma(W_xf * X + W_hf * H + w_cf o C + b_f)
    C' = f o C + i o tanh(W_xc * X + W_hc * H + b_c)
    o = sigma(W_xo * X + W_ho * H + w_co o C' + b_o)     H' = o o tanh(C')
The eight gate convolutions are one convolution over cat(X, H) with 4 * hidden_channels outputs
(`conv`, gates in the order i, f, c, o), as in the common PyTorch reference implementation; the
pointwise gate math is one fused kernel (csrc/cpu/recurrent.cpp). Backpropagation through time
is ordinary autograd over the loop on time steps.
"""
from __future__ import annotations

from ... import functions
from .. import functional as F
from .conv import Conv2d
from .container import ModuleList
from .module import Module, Parameter


class ConvLSTMCell(Module):
    """One ConvLSTM step: forward(input (B, C, H, W), state=None or (h, c)) -> (h, c).

    Peepholes are Hadamard weights over the whole map, so their shape depends on H and W. They
    are created in the constructor from `spatial_size` (required when peephole=True) rather than
    lazily at the first call, so that an optimiser built right after the model sees them.
    `peephole_weight` is (3, hidden_channels, H, W): w_ci, w_cf, w_co, starting at zero (a
    plain LSTM at initialisation).
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size, bias: bool = True,
                 peephole: bool = False, spatial_size=None):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("hidden_channels", hidden_channels)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"ConvLSTMCell: {name} must be a positive int, got {value!r}")
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.kernel_size = F.pair("ConvLSTMCell", "kernel_size", kernel_size)
        self.conv = Conv2d(in_channels + hidden_channels, 4 * hidden_channels, self.kernel_size, padding="same",
                           bias=bias)
        if peephole:
            if spatial_size is None:
                raise ValueError("ConvLSTMCell: peephole=True needs spatial_size=(H, W), the size of the maps "
                                 "its Hadamard weights cover")
            self.spatial_size = F.pair("ConvLSTMCell", "spatial_size", spatial_size)
            self.peephole_weight = Parameter(functions.zeros(3, hidden_channels, *self.spatial_size))
        else:
            self.spatial_size = None
            self.register_parameter("peephole_weight", None)

    def init_state(self, input):
        """Zero (h, c) for a (B, C, H, W) input."""
        batch, _, height, width = input.shape
        zeros = functions.zeros(batch, self.hidden_channels, height, width, dtype=input.dtype)
        return zeros, functions.zeros_like(zeros)

    def forward(self, input, state=None):
        F.check_feature_map("ConvLSTMCell", input, self.in_channels)
        if self.spatial_size is not None and tuple(input.shape[2:]) != self.spatial_size:
            raise ValueError(f"ConvLSTMCell: the peepholes cover {self.spatial_size} maps but the input is "
                             f"{tuple(input.shape)}")
        hidden, cell = self.init_state(input) if state is None else state
        return F.convlstm_cell(input, hidden, cell, self.conv.weight, self.conv.bias, self.peephole_weight)

    def extra_repr(self):
        text = f"{self.in_channels}, {self.hidden_channels}, kernel_size={self.kernel_size}"
        return text + (f", peephole=True, spatial_size={self.spatial_size}" if self.spatial_size else "")


def _per_layer(name, value, num_layers, per_layer_types):
    """value for every layer, or value itself when it is a per-layer sequence."""
    if not isinstance(value, per_layer_types):
        return [value] * num_layers
    if len(value) != num_layers:
        raise ValueError(f"ConvLSTM: {name} lists {len(value)} layers but num_layers is {num_layers}")
    return list(value)


class ConvLSTM(Module):
    """A stack of ConvLSTMCells run over a sequence (B, T, C, H, W), or (T, B, C, H, W) when
    batch_first=False.

    hidden_channels is an int or a per-layer list; kernel_size an int, a pair or a per-layer list
    (a list is per layer, a tuple is one (kH, kW) pair). forward(input, state=None), state None
    (zeros) or a list of per-layer (h, c), returns (outputs, (h, c)): the last layer's output
    sequence in the input's layout and its final state; with return_all_layers, a list of every
    layer's sequence and a list of every layer's (h, c). peephole=True (with spatial_size=(H, W))
    gives every layer's cell the paper's peephole weights (see ConvLSTMCell).
    """

    def __init__(self, in_channels: int, hidden_channels, kernel_size, num_layers: int = 1, batch_first: bool = True,
                 bias: bool = True, return_all_layers: bool = False, peephole: bool = False, spatial_size=None):
        super().__init__()
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"ConvLSTM: num_layers must be a positive int, got {num_layers!r}")
        self.hidden_channels = _per_layer("hidden_channels", hidden_channels, num_layers, (list, tuple))
        self.kernel_size = _per_layer("kernel_size", kernel_size, num_layers, list)
        self.in_channels = in_channels
        self.num_layers = num_layers
        self.batch_first = batch_first
        self.return_all_layers = return_all_layers
        inputs = [in_channels] + self.hidden_channels[:-1]
        self.cell_list = ModuleList(ConvLSTMCell(inputs[layer], self.hidden_channels[layer], self.kernel_size[layer],
                                                 bias=bias, peephole=peephole, spatial_size=spatial_size)
                                    for layer in range(num_layers))

    def forward(self, input, state=None):
        F.check_tensor("ConvLSTM", "input", input)
        layout = "(B, T, C, H, W)" if self.batch_first else "(T, B, C, H, W)"
        if input.ndim != 5:
            raise ValueError(f"ConvLSTM: input must be a 5-D sequence {layout}, got {input.ndim}-D "
                             f"(input {tuple(input.shape)})")
        if input.shape[2] != self.in_channels:
            raise ValueError(f"ConvLSTM: input has {input.shape[2]} channels but the layer expects "
                             f"{self.in_channels} (input {tuple(input.shape)}, layout {layout})")
        if state is not None and len(state) != self.num_layers:
            raise ValueError(f"ConvLSTM: state lists {len(state)} layers but num_layers is {self.num_layers}")
        # Time-major inside: each step then reads one contiguous (B, C, H, W) block. One unbind
        # takes all the steps, so the backward writes the sequence's gradient once, not per step.
        sequence = functions.unbind(input.transpose(0, 1) if self.batch_first else input, 0)
        outputs, states = [], []
        for layer, cell in enumerate(self.cell_list):
            layer_state = None if state is None else state[layer]
            steps = []
            for step_input in sequence:
                layer_state = cell(step_input, layer_state)
                steps.append(layer_state[0])
            sequence = steps
            outputs.append(functions.stack(steps, 1 if self.batch_first else 0))
            states.append(layer_state)
        if self.return_all_layers:
            return outputs, states
        return outputs[-1], states[-1]

    def extra_repr(self):
        return (f"{self.in_channels}, {self.hidden_channels}, kernel_size={self.kernel_size}, "
                f"num_layers={self.num_layers}, batch_first={self.batch_first}")
