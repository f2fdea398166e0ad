"""The threaded paths give the serial results. The other tests' shapes are mostly too small for any
kernel to start a thread team (core/parallel.h: ~20 us of work), so here each op runs on inputs
large enough to split, once on one thread and once on two, forward and backward: outputs and
gradients must agree (exactly where each value is computed by one thread in the same order;
weight gradients and batch statistics sum per-thread partials, so those agree to rounding)."""
import numpy as np
import pytest

import fastcnn
import fastcnn.nn.functional as F
from checks import run_with_grad

rng = np.random.default_rng(0)


def _normal(*shape):
    return rng.standard_normal(shape)


def _weights(*shape):
    return rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))


# name: (function of Tensors, input arrays). Sizes cross the parallel thresholds at 2 threads.
OPS = {
    "conv 3x3 32ch": (lambda x, w, b: F.conv2d(x, w, b, 1, 1), [_normal(4, 32, 24, 24), _weights(32, 32, 3, 3),
                                                                 _normal(32)]),
    "conv 3x3 stride 2 batch 1": (lambda x, w: F.conv2d(x, w, None, 2, 1), [_normal(1, 48, 64, 64),
                                                                            _weights(64, 48, 3, 3)]),
    "conv Winograd 64ch": (lambda x, w: F.conv2d(x, w, None, 1, 1), [_normal(2, 64, 18, 18), _weights(64, 64, 3, 3)]),
    "conv dilated groups": (lambda x, w: F.conv2d(x, w, None, 1, 2, 2, 2), [_normal(3, 32, 20, 20),
                                                                           _weights(32, 16, 3, 3)]),
    "pointwise": (lambda x, w: F.conv2d(x, w), [_normal(2, 64, 40, 40), _weights(96, 64, 1, 1)]),
    "depthwise": (lambda x, w: F.conv2d(x, w, None, 1, 1, 1, 64), [_normal(3, 64, 30, 30), _weights(64, 1, 3, 3)]),
    "depthwise stride 2": (lambda x, w: F.conv2d(x, w, None, 2, 1, 1, 96), [_normal(2, 96, 33, 33),
                                                                            _weights(96, 1, 3, 3)]),
    "transposed": (lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 1), [_normal(4, 32, 12, 12), _weights(32, 24, 4, 4),
                                                                       _normal(24)]),
    "linear": (lambda x, w, b: F.linear(x, w, b), [_normal(256, 512), _weights(384, 512), _normal(384)]),
    "batch norm + relu": (lambda x, w, b: F.batch_norm_act(x, None, None, w, b, True, activation="relu"),
                          [_normal(4, 16, 32, 32), rng.uniform(0.5, 1.5, 16), _normal(16)]),
    "relu": (F.relu, [_normal(2, 8, 64, 65)]),
    "sigmoid": (F.sigmoid, [_normal(2, 8, 64, 65)]),
    "add": (lambda a, b: a + b, [_normal(2, 8, 64, 65), _normal(2, 8, 64, 65)]),
    "max pool 2x2": (lambda x: F.max_pool2d(x, 2), [_normal(4, 16, 64, 64)]),
    "max pool 3x3 stride 2": (lambda x: F.max_pool2d(x, 3, 2, 1), [_normal(4, 16, 64, 64)]),
    "avg pool 2x2": (lambda x: F.avg_pool2d(x, 2), [_normal(4, 16, 64, 64)]),
    "softmax": (lambda x: F.softmax(x, dim=-1), [_normal(256, 1024)]),
    "cross entropy, ignored targets": (
        lambda x: F.cross_entropy(x, fastcnn.tensor(np.where(np.arange(4096) % 7 == 0, -100,
                                                             np.arange(4096) % 40)), ignore_index=-100),
        [_normal(4096, 40)]),
    "attention": (F.scaled_dot_product_attention, [_normal(2, 4, 128, 32), _normal(2, 4, 160, 32),
                                                   _normal(2, 4, 160, 48)]),
}


def _run(function, inputs, threads):
    # Fresh (zeroed) buffers for every run: a recycled one could still hold the other run's
    # values where a thread skipped its share.
    fastcnn.empty_cache()
    previous = fastcnn.get_num_threads()
    fastcnn.set_num_threads(threads)
    try:
        return run_with_grad(function, inputs, dtype=np.float32)
    finally:
        fastcnn.set_num_threads(previous)


@pytest.mark.parametrize("name", sorted(OPS))
def test_two_threads_match_one(name):
    function, inputs = OPS[name]
    # Two threads first: the kernels' per-thread workspaces then hold another op's values, not
    # this op's serial results, wherever a thread might skip its share.
    output2, grads2, _ = _run(function, inputs, 2)
    output, grads, _ = _run(function, inputs, 1)
    scale = max(1.0, float(np.max(np.abs(output))))
    np.testing.assert_allclose(output2, output, rtol=1e-5, atol=1e-6 * scale)
    for grad, grad2 in zip(grads, grads2):
        np.testing.assert_allclose(grad2, grad, rtol=1e-4, atol=1e-5 * max(1.0, float(np.max(np.abs(grad)))))


def test_dropout_mask_does_not_depend_on_threads():
    x = fastcnn.tensor(np.ones((4, 16, 64, 64), np.float32))
    masks = []
    for threads in (1, 2):
        fastcnn.manual_seed(3)
        masks.append(_run(lambda t: F.dropout(t, 0.3), [x.numpy()], threads)[0])
    np.testing.assert_array_equal(masks[0], masks[1])
