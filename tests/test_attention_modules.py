"""MultiheadAttention against torch.nn.MultiheadAttention with copied weights (masks, weights,
layouts); SelfAttention2d against the NumPy reference and finite differences."""
import numpy as np
import pytest

import fastcnn
from fastcnn import nn
from checks import check_gradients
from module_checks import check_parameter_gradients, module_torch_parity
from reference import self_attention_2d


def _input(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# --- MultiheadAttention ----------------------------------------------------------------------------
def _masks(kind, batch, heads, target, source, seed=5):
    """(key_padding_mask, attn_mask) as NumPy arrays for one of the mask kinds torch accepts; no row is
    fully masked (torch gives NaN there)."""
    rng = np.random.default_rng(seed)
    if kind == "none":
        return None, None
    if kind == "key_padding_bool":
        padding = np.zeros((batch, source), dtype=bool)
        padding[:, source - 1] = True
        padding[0, 0] = True
        return padding, None
    if kind == "attn_float_2d":
        return None, rng.standard_normal((target, source)).astype(np.float32)
    causal = np.triu(np.ones((target, source), dtype=bool), k=1)
    return rng.random((batch, source)) < -1, np.broadcast_to(causal, (batch * heads, target, source)).copy()


def _mha_twins(embed_dim, heads, batch_first, bias=True):
    torch = pytest.importorskip("torch")
    fastcnn.manual_seed(3)
    ours = nn.MultiheadAttention(embed_dim, heads, bias=bias, batch_first=batch_first)
    theirs = torch.nn.MultiheadAttention(embed_dim, heads, bias=bias, batch_first=batch_first)
    return ours, theirs


class _Call:
    """Binds the keyword arguments of one MultiheadAttention call, for both libraries."""

    def __init__(self, module, tensor, key_padding_mask, attn_mask, **options):
        self.module, self.options = module, options
        self.key_padding_mask = tensor(key_padding_mask) if key_padding_mask is not None else None
        self.attn_mask = tensor(attn_mask) if attn_mask is not None else None

    def named_parameters(self):
        return self.module.named_parameters()

    def state_dict(self):
        return self.module.state_dict()

    def load_state_dict(self, state):
        return self.module.load_state_dict(state)

    def __call__(self, query, key, value):
        return self.module(query, key, value, key_padding_mask=self.key_padding_mask, attn_mask=self.attn_mask,
                           **self.options)


@pytest.mark.parametrize("mask_kind", ["none", "key_padding_bool", "attn_float_2d", "attn_bool_3d_causal"])
@pytest.mark.parametrize("need_weights, average", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("embed_dim, heads, batch, target, source", [(8, 2, 3, 5, 4), (6, 1, 1, 3, 3),
                                                                       (12, 4, 2, 1, 6)])
def test_multihead_attention_matches_torch(mask_kind, need_weights, average, embed_dim, heads, batch, target,
                                           source):
    torch = pytest.importorskip("torch")
    ours, theirs = _mha_twins(embed_dim, heads, batch_first=True)
    key_padding_mask, attn_mask = _masks(mask_kind, batch, heads, target, source)
    options = dict(need_weights=need_weights, average_attn_weights=average)
    inputs = [_input((batch, target, embed_dim), 1), _input((batch, source, embed_dim), 2),
              _input((batch, source, embed_dim), 3)]
    for index in (0, 1) if need_weights else (0,):
        ours_call = _Call(ours, fastcnn.tensor, key_padding_mask, attn_mask, **options)
        their_call = _Call(theirs, torch.tensor, key_padding_mask, attn_mask, **options)
        ours.zero_grad()
        theirs.zero_grad()
        module_torch_parity(ours_call, their_call, inputs, atol=1e-5, rtol=1e-4, output_index=index)
    weights = ours(*[fastcnn.tensor(x, dtype=np.float32) for x in inputs], **options)[1]
    if need_weights:
        np.testing.assert_array_equal(ours.last_attention_weights.numpy(), weights.detach().numpy())
    else:
        assert weights is None and ours.last_attention_weights is None


@pytest.mark.parametrize("mask_kind", ["none", "key_padding_bool", "attn_bool_3d_causal"])
@pytest.mark.parametrize("kdim, vdim, add_bias_kv, add_zero_attn", [
    (5, 3, False, False), (None, None, True, False), (None, None, False, True), (7, 4, True, True)])
def test_multihead_attention_extra_options_match_torch(kdim, vdim, add_bias_kv, add_zero_attn, mask_kind):
    """kdim / vdim (separate projection weights), add_bias_kv and add_zero_attn, with masks, as torch."""
    torch = pytest.importorskip("torch")
    embed_dim, heads, batch, target, source = 8, 2, 3, 4, 5
    options = dict(add_bias_kv=add_bias_kv, add_zero_attn=add_zero_attn, kdim=kdim, vdim=vdim)
    fastcnn.manual_seed(4)
    ours = nn.MultiheadAttention(embed_dim, heads, 0.0, True, batch_first=True, **options)
    theirs = torch.nn.MultiheadAttention(embed_dim, heads, 0.0, True, batch_first=True, **options)
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    key_padding_mask, attn_mask = _masks(mask_kind, batch, heads, target, source)
    inputs = [_input((batch, target, embed_dim), 1), _input((batch, source, kdim or embed_dim), 2),
              _input((batch, source, vdim or embed_dim), 3)]
    for index in (0, 1):
        ours.zero_grad()
        theirs.zero_grad()
        module_torch_parity(_Call(ours, fastcnn.tensor, key_padding_mask, attn_mask),
                            _Call(theirs, torch.tensor, key_padding_mask, attn_mask), inputs, atol=1e-5, rtol=1e-4,
                            output_index=index)


@pytest.mark.parametrize("batched", [True, False])
def test_multihead_attention_sequence_first_and_unbatched_match_torch(batched):
    torch = pytest.importorskip("torch")
    ours, theirs = _mha_twins(8, 2, batch_first=False, bias=False)
    shape = (4, 2, 8) if batched else (4, 8)
    inputs = [_input(shape, 6), _input(shape, 7), _input(shape, 8)]
    module_torch_parity(_Call(ours, fastcnn.tensor, None, None), _Call(theirs, torch.tensor, None, None), inputs,
                        atol=1e-5, rtol=1e-4, output_index=0)


def test_multihead_attention_self_attention_gradients_finite_differences():
    fastcnn.manual_seed(4)
    layer = nn.MultiheadAttention(4, 2).double()
    x = _input((2, 3, 4), 9)
    check_gradients(lambda t: layer(t, t, t)[0], [x])
    check_parameter_gradients(_SelfCall(layer), [x])


class _SelfCall:
    """Self-attention as a one-input module, for the parameter check."""

    def __init__(self, layer):
        self.layer = layer

    def named_parameters(self):
        return self.layer.named_parameters()

    def __call__(self, x):
        return self.layer(x, x, x)[0]


def test_multihead_attention_dropout_only_in_training():
    fastcnn.manual_seed(5)
    layer = nn.MultiheadAttention(8, 2, dropout=0.5)
    x = fastcnn.tensor(_input((2, 5, 8), 10).astype(np.float32))
    layer.eval()
    with fastcnn.no_grad():
        first, second = layer(x, x, x)[0], layer(x, x, x)[0]
        np.testing.assert_array_equal(first.numpy(), second.numpy())
        layer.train()
        assert not np.allclose(layer(x, x, x)[0].numpy(), first.numpy())


def test_multihead_attention_rejects_heads_not_dividing_embedding():
    with pytest.raises(ValueError, match="MultiheadAttention: embed_dim 10 is not divisible by num_heads 3"):
        nn.MultiheadAttention(10, 3)


@pytest.mark.parametrize("shapes, message", [
    (((2, 3, 8), (2, 4, 6), (2, 4, 6)), "last dims of query, key and value must be embed_dim=8, kdim=8 and vdim=8"),
    (((2, 3, 8), (2, 4, 8), (2, 5, 8)), "key and value must have the same batch and sequence sizes"),
    (((2, 3, 8), (3, 4, 8), (3, 4, 8)), "query and key have different batch sizes"),
    (((2, 3, 8), (4, 8), (4, 8)), "must all be 3-D"),
])
def test_multihead_attention_rejects_bad_shapes(shapes, message):
    layer = nn.MultiheadAttention(8, 2)
    with pytest.raises(ValueError, match=f"MultiheadAttention: .*{message}"):
        layer(*[fastcnn.randn(*shape) for shape in shapes])


def test_multihead_attention_rejects_bad_mask_shape():
    layer = nn.MultiheadAttention(8, 2)
    x = fastcnn.randn(2, 3, 8)
    with pytest.raises(ValueError, match=r"MultiheadAttention: key_padding_mask must have shape \(2, 3\)"):
        layer(x, x, x, key_padding_mask=fastcnn.zeros(3, 2))


# --- SelfAttention2d --------------------------------------------------------------------------------
def _reference(layer, x):
    parameters = {name: p.detach().numpy().astype(np.float64) for name, p in layer.named_parameters()}
    flat = {name: value.reshape(value.shape[0], -1) if value.ndim == 4 else value for name, value in parameters.items()}
    return self_attention_2d(x, flat["query.weight"], flat["query.bias"], flat["key.weight"], flat["key.bias"],
                             flat["value.weight"], flat["value.bias"], flat["gamma"][0], layer.heads)


@pytest.mark.parametrize("channels, heads, reduction, shape", [(8, 1, 8, (2, 8, 3, 4)), (16, 2, 4, (1, 16, 5, 3)),
                                                               (4, 2, 2, (3, 4, 2, 2)), (3, 1, 8, (1, 3, 1, 5))])
def test_self_attention_matches_reference(channels, heads, reduction, shape):
    fastcnn.manual_seed(6)
    layer = nn.SelfAttention2d(channels, heads, reduction).double()
    with fastcnn.no_grad():
        layer.gamma.fill_(0.7)
    x = _input(shape, 11)
    expected, expected_weights = _reference(layer, x)
    output = layer(fastcnn.tensor(x))
    np.testing.assert_allclose(output.detach().numpy(), expected, rtol=1e-10, atol=1e-10)
    assert tuple(layer.attention.shape) == (shape[0], heads, shape[2] * shape[3], shape[2] * shape[3])
    assert not layer.attention.requires_grad
    np.testing.assert_allclose(layer.attention.numpy(), expected_weights, rtol=1e-10, atol=1e-12)


def test_self_attention_gradients_finite_differences():
    fastcnn.manual_seed(7)
    layer = nn.SelfAttention2d(4, heads=2, reduction=2).double()
    with fastcnn.no_grad():
        layer.gamma.fill_(0.5)
    x = _input((2, 4, 3, 2), 12)
    check_gradients(layer, [x])
    check_parameter_gradients(layer, [x])


def test_fresh_self_attention_is_identity_and_learns_gamma():
    layer = nn.SelfAttention2d(8)
    x = fastcnn.randn(2, 8, 4, 4, requires_grad=True)
    output = layer(x)
    np.testing.assert_array_equal(output.detach().numpy(), x.detach().numpy())
    output.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(x.shape))
    assert layer.gamma.grad.numpy()[0] != 0


@pytest.mark.parametrize("arguments, message", [((8, 3), "heads=3 must divide"), ((0,), "positive ints")])
def test_self_attention_rejects_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=f"SelfAttention2d: .*{message}"):
        nn.SelfAttention2d(*arguments)


def test_self_attention_rejects_wrong_channels():
    with pytest.raises(ValueError, match=r"SelfAttention2d: input has 4 channels but the layer expects 8 "
                                         r"\(input \(1, 4, 3, 3\)\)"):
        nn.SelfAttention2d(8)(fastcnn.randn(1, 4, 3, 3))
