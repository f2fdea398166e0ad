"""Attention layers: self-attention over the positions of a feature map (SAGAN) and torch's
multi-head attention.

Both run the attention itself through F.scaled_dot_product_attention (the fused attention kernel
of csrc/cpu/attention.cpp, which never holds the (L, S) weights); the layers only project, split
heads and merge them back. The weights of the last call are kept for plotting.
"""
from __future__ import annotations

import math

import numpy as np

from ... import functions
from ...tensor import Tensor, _check_device, no_grad
from .. import functional as F
from .. import init
from .conv import Conv2d
from .linear import Linear
from .module import Module, Parameter
from .blocks import check_feature_map


def attention_weights(query, key, scale: float, mask=None):
    """softmax(query key^T * scale + mask) over the last dim: the probabilities that
    scaled_dot_product_attention applies to the values, for layers that must return them."""
    scores = functions.matmul(query, key.transpose(-2, -1)) * scale
    if mask is not None:
        scores = scores + mask
    return F.softmax(scores, dim=-1)


class SelfAttention2d(Module):
    """Self-attention across the H*W positions of a (B, C, H, W) map (Zhang et al. 2019, SAGAN).

    1x1 convolutions give queries and keys with max(1, channels // reduction) channels and values
    with `channels` channels; each of `heads` heads attends with its slice of those channels,
    scaled by 1/sqrt(head dim). The result is added back with a learned scale `gamma` that starts at
    0, so a fresh layer is the identity and the network learns how much attention to mix in:
    output = gamma * attention + input.

    `attention` gives the last call's weights, (B, heads, H*W, H*W), detached: row i is where
    position i (row-major over H, W) looked. They are computed from the stored queries and keys when
    read, so the forward pass stays on the fused kernel.
    """

    def __init__(self, channels: int, heads: int = 1, reduction: int = 8):
        super().__init__()
        if not all(isinstance(v, int) and v >= 1 for v in (channels, heads, reduction)):
            raise ValueError(f"SelfAttention2d: channels, heads and reduction must be positive ints, "
                             f"got channels={channels!r}, heads={heads!r}, reduction={reduction!r}")
        query_channels = max(1, channels // reduction)
        if query_channels % heads or channels % heads:
            raise ValueError(f"SelfAttention2d: heads={heads} must divide the query/key channels "
                             f"({query_channels}) and the value channels ({channels})")
        self.channels, self.heads, self.reduction = channels, heads, reduction
        self.query = Conv2d(channels, query_channels, 1)
        self.key = Conv2d(channels, query_channels, 1)
        self.value = Conv2d(channels, channels, 1)
        self.gamma = Parameter(functions.zeros(1))
        self._last_query_key = None

    def _split_heads(self, projected):
        """(B, heads * D, H, W) -> (B, heads, H*W, D)."""
        batch, channels = projected.shape[0], projected.shape[1]
        return projected.reshape(batch, self.heads, channels // self.heads, -1).transpose(-2, -1)

    def forward(self, input):
        check_feature_map("SelfAttention2d", input, self.channels)
        query, key = self._split_heads(self.query(input)), self._split_heads(self.key(input))
        value = self._split_heads(self.value(input))
        attended = F.scaled_dot_product_attention(query, key, value)
        self._last_query_key = (query.detach(), key.detach())
        attended = attended.transpose(-2, -1).reshape(input.shape)
        return self.gamma.reshape(1, 1, 1, 1) * attended + input

    @property
    def attention(self):
        if self._last_query_key is None:
            return None
        query, key = self._last_query_key
        with no_grad():
            return attention_weights(query, key, 1.0 / math.sqrt(query.shape[-1]))

    def extra_repr(self) -> str:
        return f"{self.channels}, heads={self.heads}, reduction={self.reduction}"


class MultiheadAttention(Module):
    """torch.nn.MultiheadAttention: same parameters (in_proj_weight (3E, E), in_proj_bias (3E,),
    out_proj.weight, out_proj.bias), initialisation, masks and return values, so state dicts move
    between the two.

    Differences: `batch_first` defaults to True here ((B, L, E) inputs, as the rest of fastcnn),
    where torch defaults to False ((L, B, E)); pass batch_first=False for torch's layout.
    `last_attention_weights` holds the weights returned by the last call, detached (None after a
    call with need_weights=False). As torch: with kdim or vdim other than embed_dim the projections
    are q_proj_weight (E, E), k_proj_weight (E, kdim), v_proj_weight (E, vdim) instead of
    in_proj_weight; add_bias_kv appends the learned bias_k / bias_v (1, 1, E) to the projected keys
    and values, add_zero_attn a zero key and value per head, each one more source position that
    the masks leave open.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim=None, vdim=None,
                 batch_first: bool = True, device=None, dtype=None):
        super().__init__()
        if not all(isinstance(v, int) and v >= 1 for v in (embed_dim, num_heads)):
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be positive ints, "
                             f"got embed_dim={embed_dim!r}, num_heads={num_heads!r}")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1), got {dropout!r}")
        _check_device(device)
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        if not all(isinstance(v, int) and v >= 1 for v in (self.kdim, self.vdim)):
            raise ValueError(f"MultiheadAttention: kdim and vdim must be positive ints or None, got kdim={kdim!r}, "
                             f"vdim={vdim!r}")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, float(dropout)
        self.head_dim = embed_dim // num_heads
        self.batch_first = batch_first
        self.add_zero_attn = add_zero_attn
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(functions.empty(3 * embed_dim, embed_dim, dtype=dtype))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.register_parameter("in_proj_weight", None)
            for name, width in (("q_proj_weight", embed_dim), ("k_proj_weight", self.kdim), ("v_proj_weight", self.vdim)):
                setattr(self, name, Parameter(functions.empty(embed_dim, width, dtype=dtype)))
        self.in_proj_bias = Parameter(functions.zeros(3 * embed_dim, dtype=dtype)) if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        if add_bias_kv:
            self.bias_k = Parameter(functions.empty(1, 1, embed_dim, dtype=dtype))
            self.bias_v = Parameter(functions.empty(1, 1, embed_dim, dtype=dtype))
        else:
            self.bias_k = self.bias_v = None
        for weight in (self.in_proj_weight, self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
            if weight is not None:
                init.xavier_uniform_(weight)
        for extra in (self.bias_k, self.bias_v):
            if extra is not None:
                init.xavier_normal_(extra)
        if bias:
            init.zeros_(self.out_proj.bias)
        self.last_attention_weights = None

    def _check(self, query, key, value):
        for name, tensor in (("query", query), ("key", key), ("value", value)):
            F.check_tensor("MultiheadAttention", name, tensor)
        shapes = f"(query {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)})"
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"MultiheadAttention: query, key and value must all be 3-D "
                             f"(batch, sequence, embed_dim) or all 2-D (unbatched) {shapes}")
        if query.shape[-1] != self.embed_dim or key.shape[-1] != self.kdim or value.shape[-1] != self.vdim:
            raise ValueError(f"MultiheadAttention: the last dims of query, key and value must be embed_dim="
                             f"{self.embed_dim}, kdim={self.kdim} and vdim={self.vdim} {shapes}")
        if tuple(key.shape[:-1]) != tuple(value.shape[:-1]):
            raise ValueError(f"MultiheadAttention: key and value must have the same batch and sequence sizes {shapes}")
        batch_dim = 0 if self.batch_first else 1
        if query.ndim == 3 and query.shape[batch_dim] != key.shape[batch_dim]:
            raise ValueError(f"MultiheadAttention: query and key have different batch sizes "
                             f"(batch_first={self.batch_first}) {shapes}")

    def _additive_mask(self, key_padding_mask, attn_mask, batch, target, source, dtype, extra):
        """The masks as one float array added to the scores, (B or 1, heads or 1, L, S + extra):
        boolean masks mark with True what may NOT be attended (torch's MultiheadAttention
        convention) and become -inf there; float masks are added as they are. The `extra` source
        positions (bias_k, the zero attention) stay open."""
        def additive(mask, name, shapes):
            F.check_tensor("MultiheadAttention", name, mask, float_only=False)
            if tuple(mask.shape) not in shapes:
                raise ValueError(f"MultiheadAttention: {name} must have shape {' or '.join(map(str, shapes))}, "
                                 f"got {tuple(mask.shape)}")
            array = mask.detach().numpy()
            return np.where(array, -np.inf, 0.0).astype(dtype) if array.dtype == np.bool_ else array.astype(dtype)

        total = np.zeros((1, 1, target, source), dtype=dtype)
        if attn_mask is not None:
            array = additive(attn_mask, "attn_mask", [(target, source), (batch * self.num_heads, target, source)])
            total = total + array.reshape(-1 if array.ndim == 3 else 1, self.num_heads if array.ndim == 3 else 1,
                                          target, source)
        if key_padding_mask is not None:
            total = total + additive(key_padding_mask, "key_padding_mask", [(batch, source)]).reshape(batch, 1, 1, source)
        return Tensor(np.pad(total, [(0, 0)] * 3 + [(0, extra)]))

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True, attn_mask=None,
                average_attn_weights: bool = True):
        self._check(query, key, value)
        unbatched = query.ndim == 2
        if unbatched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            key_padding_mask = key_padding_mask.unsqueeze(0) if key_padding_mask is not None else None
        elif not self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        batch, target, source = query.shape[0], query.shape[1], key.shape[1]

        weights = (self.in_proj_weight.chunk(3) if self._qkv_same_embed_dim else
                   (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight))
        biases = self.in_proj_bias.chunk(3) if self.in_proj_bias is not None else (None,) * 3
        projected = [F.linear(x, w, b) for x, w, b in zip((query, key, value), weights, biases)]
        if self.bias_k is not None:
            projected[1:] = [functions.cat([x, extra.expand(batch, 1, self.embed_dim)], 1)
                             for x, extra in zip(projected[1:], (self.bias_k, self.bias_v))]
        heads = [x.reshape(batch, x.shape[1], self.num_heads, self.head_dim).transpose(1, 2) for x in projected]
        if self.add_zero_attn:
            zeros = functions.zeros(batch, self.num_heads, 1, self.head_dim, dtype=query.dtype)
            heads[1:] = [functions.cat([x, zeros], 2) for x in heads[1:]]
        extra = heads[1].shape[2] - source
        mask = None
        if key_padding_mask is not None or attn_mask is not None:
            mask = self._additive_mask(key_padding_mask, attn_mask, batch, target, source, query.dtype, extra)
        dropout = self.dropout if self.training else 0.0

        probabilities = None
        if need_weights:
            # torch takes this explicit path too when the weights are asked for: they are returned
            # after dropout, as the values were mixed with them.
            probabilities = F.dropout(attention_weights(heads[0], heads[1], 1.0 / math.sqrt(self.head_dim), mask),
                                      p=dropout, training=dropout > 0)
            attended = functions.matmul(probabilities, heads[2])
        else:
            attended = F.scaled_dot_product_attention(*heads, attn_mask=mask, dropout_p=dropout)
        output = self.out_proj(attended.transpose(1, 2).reshape(batch, target, self.embed_dim))

        if probabilities is not None and average_attn_weights:
            probabilities = probabilities.mean(dim=1)
        if unbatched:
            output = output.squeeze(0)
            probabilities = probabilities.squeeze(0) if probabilities is not None else None
        elif not self.batch_first:
            output = output.transpose(0, 1)
        self.last_attention_weights = probabilities.detach() if probabilities is not None else None
        return output, probabilities

    def extra_repr(self) -> str:
        text = (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, "
                f"batch_first={self.batch_first}")
        if not self._qkv_same_embed_dim:
            text += f", kdim={self.kdim}, vdim={self.vdim}"
        return text + (", add_bias_kv=True" if self.bias_k is not None else "") + (
            ", add_zero_attn=True" if self.add_zero_attn else "")
