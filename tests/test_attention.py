import numpy as np
import pytest

import fastcnn
import fastcnn.nn.functional as F
import reference
from checks import check_gradients, run_under_isa, run_with_grad, torch_parity

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
    mask[:, 0] = True  # no fully masked row: those have tests of their own
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


# --- the fused kernel (csrc/cpu/attention.cpp) ------------------------------------------------------
# Shapes that take the fused path (same batch dims): batch 1, L != S, E != Ev, several batch dims,
# unbatched, and L, S on both sides of the kernel's 64-row blocks.
FUSED_SHAPES = [
    ((1, 1, 1), (1, 1, 1), (1, 1, 1)),
    ((2, 7, 3), (2, 33, 3), (2, 33, 5)),
    ((1, 100, 4), (1, 257, 4), (1, 257, 32)),
    ((2, 2, 65, 9), (2, 2, 64, 9), (2, 2, 64, 2)),
    ((130, 16), (7, 16), (7, 70)),
]
FUSED_MASKS = ["none", "float", "float_shared", "float_leading", "float_trailing", "bool", "causal"]


def _fused_case(shapes, kind, seed=0):
    """(inputs, NumPy mask or None, options): a float mask is an input of its own (it gets a
    gradient); 'float' has the scores' full shape, 'float_shared' one (L, S) for every batch item,
    'float_leading' one per value of the first batch dim (shared by the heads of an item: the
    kernel reads it in place) and 'float_trailing' one per value of the last (spelled out per item)."""
    inputs = _inputs(shapes, seed)
    rng = np.random.default_rng(seed + 10)
    scores_shape = shapes[0][:-1] + (shapes[1][-2],)
    if kind == "float":
        return inputs + [rng.standard_normal(scores_shape)], None, {"scale": 0.4}
    if kind == "float_shared":
        return inputs + [rng.standard_normal(scores_shape[-2:])], None, {}
    if kind in ("float_leading", "float_trailing"):
        batch = scores_shape[:-2]
        kept = batch[:1] + (1,) * (len(batch) - 1) if kind == "float_leading" else (1,) * (len(batch) - 1) + batch[-1:]
        return inputs + [rng.standard_normal(kept + scores_shape[-2:])], None, {}
    if kind == "bool":
        return inputs, _bool_mask(*scores_shape[-2:], seed=seed + 1), {}
    if kind == "causal":
        return inputs, None, {"is_causal": True}
    return inputs, None, {}


def _fused(mask, options):
    def attend(q, k, v, float_mask=None):
        attn_mask = fastcnn.tensor(mask) if mask is not None else float_mask
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, **options)
    return attend


def _reference_mask(inputs, mask, options):
    if options.get("is_causal"):
        return np.tril(np.ones((inputs[0].shape[-2], inputs[1].shape[-2]), dtype=bool))
    return inputs[3] if len(inputs) == 4 else mask


@pytest.mark.parametrize("shapes", FUSED_SHAPES)
@pytest.mark.parametrize("kind", FUSED_MASKS)
def test_fused_attention_matches_reference(shapes, kind):
    inputs, mask, options = _fused_case(shapes, kind)
    output, grads, weights = run_with_grad(_fused(mask, options), inputs, dtype=np.float64)
    numpy_mask = _reference_mask(inputs, mask, options)
    expected = reference.attention(*inputs[:3], mask=numpy_mask, scale=options.get("scale"))
    np.testing.assert_allclose(output, expected, rtol=1e-10, atol=1e-12)
    expected_grads = reference.attention_grads(*inputs[:3], weights, mask=numpy_mask, scale=options.get("scale"))
    for ours, theirs in zip(grads, expected_grads):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-11)


@pytest.mark.parametrize("kind", FUSED_MASKS)
def test_fused_attention_matches_finite_differences(kind):
    """Across block edges: 70 queries and 67 keys make two blocks each way."""
    inputs, mask, options = _fused_case(((1, 70, 3), (1, 67, 3), (1, 67, 4)), kind, seed=5)
    check_gradients(_fused(mask, options), inputs, max_points=6)


@pytest.mark.parametrize("shapes", FUSED_SHAPES)
@pytest.mark.parametrize("kind", FUSED_MASKS)
def test_fused_attention_matches_torch(shapes, kind):
    torch = pytest.importorskip("torch")
    inputs, mask, options = _fused_case(shapes, kind)

    def theirs(q, k, v, float_mask=None):
        attn_mask = torch.tensor(mask) if mask is not None else float_mask
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, **options)

    torch_parity(_fused(mask, options), theirs, [x.astype(np.float32) for x in inputs], atol=3e-5, rtol=3e-5)


def test_fully_masked_queries_give_zero_output_and_gradients_as_torch():
    """A query with no visible key gets output 0 and no gradient (torch's CPU result, where the
    composed softmax would give NaN); queries whose first visible key lies in a later key block
    of the kernel are exact too."""
    torch = pytest.importorskip("torch")
    shapes = ((2, 6, 4), (2, 150, 4), (2, 150, 3))
    mask = np.random.default_rng(3).random((6, 150)) > 0.5
    mask[0] = False
    mask[1, :140], mask[1, 145] = False, True
    mask[2, :149], mask[2, 149] = False, True
    mask[3, 64:], mask[3, 5] = False, True
    additive = np.where(mask, 0.0, -np.inf)
    for attn_mask, torch_mask in ((mask, mask), (additive, additive.astype(np.float32))):
        def ours(q, k, v, attn_mask=attn_mask):
            dtype = None if attn_mask.dtype == bool else q.dtype
            return F.scaled_dot_product_attention(q, k, v, attn_mask=fastcnn.tensor(attn_mask, dtype=dtype))

        def theirs(q, k, v, torch_mask=torch_mask):
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=torch.tensor(torch_mask))

        inputs = _inputs(shapes)
        output, grads, weights = run_with_grad(ours, inputs, dtype=np.float64)
        assert np.all(output[:, 0] == 0) and np.all(grads[0][:, 0] == 0)
        assert all(np.isfinite(g).all() for g in [output] + grads)
        expected = reference.attention(*(x[:, 1:] for x in inputs[:1]), *inputs[1:], mask=mask[1:])
        np.testing.assert_allclose(output[:, 1:], expected, rtol=1e-10, atol=1e-12)
        torch_parity(ours, theirs, [x.astype(np.float32) for x in inputs], atol=3e-5, rtol=3e-5)


def _hiding_mask(length, source_length, seed=3):
    """A bool mask hiding every key from query 0 and all keys but one from query 1."""
    mask = np.random.default_rng(seed).random((length, source_length)) > 0.5
    mask[0] = False
    mask[1], mask[1, -2] = False, True
    return mask


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_composed_attention_gives_zero_for_fully_masked_queries(kind):
    """Key and value batches that broadcast against the query's take the composed path; the same
    keys and values expanded to the query's batch take the fused one. Both give a query with no
    visible key output 0 and no gradient, as torch's CPU math does, and agree everywhere else."""
    shapes = ((2, 3, 5, 4), (1, 1, 6, 4), (1, 1, 6, 3))
    mask = _hiding_mask(5, 6)
    inputs = _inputs(shapes) + ([np.where(mask, 0.0, -np.inf)] if kind == "float" else [])

    def attend(fused):
        def run(q, k, v, float_mask=None):
            if fused:
                k, v = (x.expand(*q.shape[:-2], *x.shape[-2:]) for x in (k, v))
            attn_mask = fastcnn.tensor(mask) if float_mask is None else float_mask
            return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return run

    output, grads, _ = run_with_grad(attend(fused=False), inputs, dtype=np.float64)
    assert all(np.isfinite(x).all() for x in [output] + grads)
    assert np.all(output[..., 0, :] == 0) and np.all(grads[0][..., 0, :] == 0)
    fused_output, fused_grads, _ = run_with_grad(attend(fused=True), inputs, dtype=np.float64)
    for ours, fused in zip([output] + grads, [fused_output] + fused_grads):
        np.testing.assert_allclose(ours, fused, rtol=1e-10, atol=1e-12)
    check_gradients(attend(fused=False), inputs, max_points=12)
    torch = pytest.importorskip("torch")
    from torch.nn.attention import SDPBackend, sdpa_kernel

    def theirs(q, k, v, float_mask=None):
        with sdpa_kernel(SDPBackend.MATH):
            attn_mask = torch.tensor(mask) if float_mask is None else float_mask
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)

    torch_parity(attend(fused=False), theirs, [x.astype(np.float32) for x in inputs], atol=2e-5, rtol=2e-5)


def test_attention_with_dropout_gives_zero_for_fully_masked_queries():
    """Dropout takes the composed path: the hidden query gets output 0 and no gradient, and the
    other queries get what the same call (same seed, so the same dropout) gives with it visible.
    torch draws its dropout from its own generator, so only the fused path's rule is compared."""
    inputs = _inputs(SHAPES[0])
    mask = _hiding_mask(5, 6)
    visible = mask.copy()
    visible[0] = True

    def attend(attn_mask):
        def run(q, k, v):
            fastcnn.manual_seed(11)
            return F.scaled_dot_product_attention(q, k, v, attn_mask=fastcnn.tensor(attn_mask), dropout_p=0.3)
        return run

    output, grads, _ = run_with_grad(attend(mask), inputs, dtype=np.float64)
    assert all(np.isfinite(x).all() for x in [output] + grads)
    assert np.all(output[..., 0, :] == 0) and np.all(grads[0][..., 0, :] == 0)
    unmasked_output, unmasked_grads, _ = run_with_grad(attend(visible), inputs, dtype=np.float64)
    np.testing.assert_allclose(output[..., 1:, :], unmasked_output[..., 1:, :], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grads[0][..., 1:, :], unmasked_grads[0][..., 1:, :], rtol=1e-12, atol=1e-14)
    check_gradients(attend(mask), inputs, max_points=12)


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-10), (np.float32, 2e-4)])
def test_fused_attention_is_stable_for_large_scores(dtype, tolerance):
    """Scores in the thousands, with the row maxima in different key blocks: the online softmax
    rescales without overflow."""
    shapes = ((2, 40, 8), (2, 200, 8), (2, 200, 6))
    inputs = [x * 12 for x in _inputs(shapes, seed=7)]
    attend = _fused(None, {"scale": 1.0})
    output, grads, weights = run_with_grad(attend, inputs, dtype=dtype)
    assert np.abs(inputs[0] @ np.swapaxes(inputs[1], -1, -2)).max() > 1000
    expected = reference.attention(*inputs, scale=1.0)
    expected_grads = reference.attention_grads(*inputs, weights.astype(np.float64), scale=1.0)
    for ours, theirs in zip([output] + grads, [expected] + list(expected_grads[:3])):
        scale = np.abs(theirs).max()
        np.testing.assert_allclose(ours, theirs, rtol=tolerance, atol=tolerance * scale)


def test_fused_attention_does_not_depend_on_the_thread_count():
    inputs, mask, options = _fused_case(((3, 130, 5), (3, 140, 5), (3, 140, 6)), "float")
    results = []
    threads = fastcnn.get_num_threads()
    try:
        for count in (1, 2):
            fastcnn.set_num_threads(count)
            output, grads, _ = run_with_grad(_fused(mask, options), inputs)
            results.append([output] + grads)
    finally:
        fastcnn.set_num_threads(threads)
    for first, second in zip(*results):
        np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("isa", ["generic", "avx2"])
def test_fused_attention_under_each_isa(isa):
    """The lower kernel sets, forced by FASTCNN_ISA in a fresh process, in both dtypes."""
    script = (
        "import numpy as np, test_attention as t, reference\n"
        "from checks import run_with_grad\n"
        "for shapes, kind in [(t.FUSED_SHAPES[2], 'causal'), (t.FUSED_SHAPES[3], 'float'), (t.FUSED_SHAPES[4], 'bool')]:\n"
        "    inputs, mask, options = t._fused_case(shapes, kind)\n"
        "    numpy_mask = t._reference_mask(inputs, mask, options)\n"
        "    for dtype, tol in ((np.float64, 1e-10), (np.float32, 1e-4)):\n"
        "        out, grads, g = run_with_grad(t._fused(mask, options), inputs, dtype=dtype)\n"
        "        expected = reference.attention(*inputs[:3], mask=numpy_mask, scale=options.get('scale'))\n"
        "        expected_grads = reference.attention_grads(*inputs[:3], g.astype(np.float64), mask=numpy_mask,"
        " scale=options.get('scale'))\n"
        "        for ours, theirs in zip([out] + grads, [expected] + list(expected_grads)):\n"
        "            np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)\n"
    )
    run_under_isa(isa, script)


def test_fused_attention_entry_points_validate_their_arguments():
    forward, backward = fastcnn._C.scaled_dot_product_attention_forward, fastcnn._C.scaled_dot_product_attention_backward
    q, k, v = (np.zeros(shape, np.float32) for shape in ((2, 5, 4), (2, 6, 4), (2, 6, 3)))
    shapes = r"\(query \(2, 5, 4\), key \(2, 6, 4\), value \(2, 6, 3\)\)"
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention: query, key and value must be 3-D"):
        forward(q[0], k, v, None, 1.0, False)
    with pytest.raises(ValueError, match="same batch size"):
        forward(q, k[:1], v[:1], None, 1.0, False)
    with pytest.raises(ValueError, match="query has embedding size 4 but key has 2"):
        forward(q, np.zeros((2, 6, 2), np.float32), v, None, 1.0, False)
    with pytest.raises(ValueError, match="key has 6 positions but value has 5"):
        forward(q, k, np.zeros((2, 5, 3), np.float32), None, 1.0, False)
    with pytest.raises(ValueError, match="must have positive sizes"):
        forward(q[:, :0], k, v, None, 1.0, False)
    with pytest.raises(ValueError, match="scale must be finite, got nan " + shapes):
        forward(q, k, v, None, float("nan"), False)
    with pytest.raises(ValueError, match=r"mask must have shape \(M, L, S\) = \(M, 5, 6\) with M dividing the batch, "
                                         r"got \(2, 6, 5\) " + shapes):
        forward(q, k, v, np.zeros((2, 6, 5), np.float32), 1.0, False)
    with pytest.raises(ValueError, match=r"M dividing the batch, got \(3, 5, 6\)"):
        forward(q, k, v, np.zeros((3, 5, 6), np.float32), 1.0, False)
    with pytest.raises(ValueError, match="not both"):
        forward(q, k, v, np.zeros((1, 5, 6), np.float32), 1.0, True)
    with pytest.raises(TypeError, match="key has dtype float64 but query has float32"):
        forward(q, k.astype(np.float64), v, None, 1.0, False)
    with pytest.raises(TypeError, match="mask has dtype bool but query has float32|mask must be float32 or float64"):
        forward(q, k, v, np.zeros((1, 5, 6), bool), 1.0, False)
    with pytest.raises(ValueError, match="value must be C-contiguous"):
        forward(q, k, np.zeros((2, 6, 6), np.float32)[..., ::2], None, 1.0, False)
    output, log_sum_exp = forward(q, k, v, None, 1.0, False)
    with pytest.raises(ValueError, match=r"grad_output must have shape \(2, 5, 3\)"):
        backward(output[:, :4].copy(), q, k, v, None, output, log_sum_exp, 1.0, False, False)
    with pytest.raises(ValueError, match=r"log_sum_exp must have shape \(2, 5\)"):
        backward(output, q, k, v, None, output, log_sum_exp[:1], 1.0, False, False)
    with pytest.raises(ValueError, match="mask_grad needs a mask"):
        backward(output, q, k, v, None, output, log_sum_exp, 1.0, False, True)
