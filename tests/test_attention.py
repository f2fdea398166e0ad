import numpy as np
import pytest

import fastcnn
import fastcnn.nn.functional as F
import reference
from checks import check_gradients, run_with_grad, torch_parity

# (query, key, value) shapes: (..., L, E), (..., S, E), (..., S, Ev); batch 1, L != S, E != Ev,
# unbatched, and a key/value batch that broadcasts against the query's.
SHAPES = [
    ((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 7)),
    ((1, 4, 8), (1, 4, 8), (1, 4, 8)),
    ((3, 2), (5, 2), (5, 3)),
    ((2, 2, 3, 4), (1, 1, 5, 4), (1, 1, 5, 2)),
]


def _inputs(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in shapes]


def _bool_mask(length, source_length, seed=1):
    mask = np.random.default_rng(seed).random((length, source_length)) > 0.4
    mask[:, 0] = True  # no fully masked row: its softmax is undefined
    return mask


def _mask_variants(shapes):
    """(name, fastcnn mask, NumPy mask, extra options) for each kind of masking."""
    length, source_length = shapes[0][-2], shapes[1][-2]
    bool_mask = _bool_mask(length, source_length)
    float_mask = np.random.default_rng(2).standard_normal((1, source_length))
    causal = np.tril(np.ones((length, source_length), dtype=bool))
    return [
        ("none", None, None, {}),
        ("bool", bool_mask, bool_mask, {}),
        ("float", float_mask, float_mask, {"scale": 0.3}),
        ("causal", None, causal, {"is_causal": True}),
    ]


def _ours(mask, options):
    def attend(q, k, v):
        attn_mask = None if mask is None else fastcnn.tensor(mask, dtype=None if mask.dtype == bool else q.dtype)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, **options)
    return attend


@pytest.mark.parametrize("shapes", SHAPES)
@pytest.mark.parametrize("variant", range(4))
def test_attention_matches_reference_and_finite_differences(shapes, variant):
    _, mask, numpy_mask, options = _mask_variants(shapes)[variant]
    inputs = _inputs(shapes)
    output, grads, _ = run_with_grad(_ours(mask, options), inputs, dtype=np.float64)
    expected = reference.attention(*inputs, mask=numpy_mask, scale=options.get("scale"))
    np.testing.assert_allclose(output, expected, rtol=1e-10, atol=1e-12)
    check_gradients(_ours(mask, options), _inputs(shapes, seed=3), max_points=12)


@pytest.mark.parametrize("shapes", SHAPES)
@pytest.mark.parametrize("variant", range(4))
def test_attention_matches_torch(shapes, variant):
    torch = pytest.importorskip("torch")
    _, mask, _, options = _mask_variants(shapes)[variant]

    def theirs(q, k, v):
        attn_mask = None if mask is None else torch.tensor(mask if mask.dtype == bool else mask.astype(np.float32))
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, **options)

    inputs = [x.astype(np.float32) for x in _inputs(shapes)]
    torch_parity(_ours(mask, options), theirs, inputs, atol=2e-5, rtol=2e-5)


def test_float_mask_gets_a_gradient():
    shapes = SHAPES[0]
    mask = np.random.default_rng(4).standard_normal((5, 6))
    check_gradients(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
                    _inputs(shapes) + [mask], max_points=12)


def test_attention_dropout_is_seeded_and_scales_kept_weights():
    q, k, v = (fastcnn.tensor(x, dtype=fastcnn.float32) for x in _inputs(SHAPES[0]))
    fastcnn.manual_seed(7)
    first = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    fastcnn.manual_seed(7)
    second = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    np.testing.assert_array_equal(first, second)
    identity = fastcnn.tensor(np.broadcast_to(np.eye(6, dtype=np.float32), (2, 3, 6, 6)))
    weights = F.scaled_dot_product_attention(q, k, identity, dropout_p=0.5).numpy()
    kept = weights[weights != 0]
    full = F.scaled_dot_product_attention(q, k, identity).numpy()[weights != 0]
    np.testing.assert_allclose(kept, 2 * full, rtol=1e-5)
    assert 0.25 < kept.size / weights.size < 0.75
    assert np.all(F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).numpy() == 0)


def test_attention_rejects_mismatched_shapes():
    q, k, v = (fastcnn.zeros(*shape) for shape in SHAPES[0])
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention: query has embedding size 4 but key has 3 "
                                         r"\(query \(2, 3, 5, 4\), key \(2, 3, 6, 3\)"):
        F.scaled_dot_product_attention(q, fastcnn.zeros(2, 3, 6, 3), v)
    with pytest.raises(ValueError, match="key has 6 positions but value has 5"):
        F.scaled_dot_product_attention(q, k, fastcnn.zeros(2, 3, 5, 7))
    with pytest.raises(ValueError, match="must be at least 2-D"):
        F.scaled_dot_product_attention(fastcnn.zeros(4), k, v)
    with pytest.raises(ValueError, match=r"attn_mask does not broadcast .* \(attn_mask \(5, 5\)"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=fastcnn.zeros(5, 5))
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=fastcnn.zeros(5, 6), is_causal=True)
    with pytest.raises(ValueError, match="dropout_p must be in"):
        F.scaled_dot_product_attention(q, k, v, dropout_p=1.5)


def test_attention_rejects_bad_dtypes():
    q, k, v = (fastcnn.zeros(*shape) for shape in SHAPES[0])
    with pytest.raises(TypeError, match="scaled_dot_product_attention: key has dtype float64 but query has float32"):
        F.scaled_dot_product_attention(q, k.double(), v)
    with pytest.raises(TypeError, match="scaled_dot_product_attention: query must be float32 or float64"):
        F.scaled_dot_product_attention(fastcnn.tensor(np.zeros((5, 4), np.int64)), k, v)
    with pytest.raises(TypeError, match="attn_mask must be bool or float32, got int64"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=fastcnn.tensor(np.zeros((5, 6), np.int64)))
