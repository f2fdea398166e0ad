#pragma once
// The fused attention kernels (csrc/cpu/attention.cpp has the formulas), written once with the
// vector types and the in-register exp of softmax_lanes.h and compiled once per kernel set:
// csrc/cpu/isa/<isa>/attention.cpp defines FASTCNN_VECTOR_BYTES and includes this file.
//
// Every product here has one shape: C (rows x width) (+)= A B with B and C held as rows of
// kAttentionBlock values (a block's queries or keys side by side) and A read element by element
// with any strides, each element broadcast across a vector. That one register tile serves all
// six products once each block is laid out "positions across the vector":
//   query blocks (forward, backward_query): vectors run over the block's 64 queries, so the
//     softmax of every query runs lane-wise down the keys (no horizontal max or sum), and
//     scores^T = K Q^T, output^T += V^T P^T, dP^T = V dO^T, dQ^T += K^T dS^T;
//   key blocks (backward_key_value): vectors run over the block's 64 keys, and
//     scores = Q K^T, dP = dO V^T, dV^T += dO^T P, dK^T += Q^T dS.
// The depth E of the query/key products is often tiny (4 in SelfAttention2d), so no product is
// vectorised along E or Ev. The transposed blocks are copied in and out once per block.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/workspace.h"
#include "cpu/isa/attention_table.h"

// Only softmax's vector helpers and exp are used; its own table would be reported as unused.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "cpu/isa/softmax_lanes.h"
#pragma GCC diagnostic pop

namespace fastcnn::cpu::isa {
namespace {

constexpr int64_t kBlock = kAttentionBlock;
// Register tile: kTileRows x kTileVectors accumulators, half or less of the vector registers
// (32 with AVX-512, 16 otherwise) so that B's vectors and the broadcast fit beside them.
#if FASTCNN_VECTOR_BYTES == 64
constexpr int kTileRows = 4, kTileVectors = 4;
#else
constexpr int kTileRows = 4, kTileVectors = 2;
#endif

template <typename T>
int64_t round_to_lanes(int64_t count) {
  return (count + kLanes<T> - 1) / kLanes<T> * kLanes<T>;
}

// c[r][:] (+)= sum_d a[r * a_row + d * a_depth] * b[d][:] for R rows and V vectors.
template <typename T, int R, int V>
void tile(int64_t depth, const T* a, int64_t a_row, int64_t a_depth, const T* b, T* c, bool accumulate) {
  constexpr int64_t L = kLanes<T>;
  Vec<T> sum[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) sum[r][v] = accumulate ? load(c + r * kBlock + v * L, L, T(0)) : splat(T(0));
  for (int64_t d = 0; d < depth; ++d) {
    Vec<T> row[V];
    for (int v = 0; v < V; ++v) row[v] = load(b + d * kBlock + v * L, L, T(0));
    for (int r = 0; r < R; ++r) {
      const Vec<T> scalar = splat(a[r * a_row + d * a_depth]);
      for (int v = 0; v < V; ++v) sum[r][v] += scalar * row[v];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) store(c + r * kBlock + v * L, sum[r][v], L);
}

// The tile for the last, narrower column strip and the last rows.
template <typename T, int R, int V = kTileVectors>
void tile_columns(int64_t vectors, int64_t depth, const T* a, int64_t a_row, int64_t a_depth, const T* b, T* c,
                  bool accumulate) {
  if constexpr (V > 1) {
    if (vectors < V) return tile_columns<T, R, V - 1>(vectors, depth, a, a_row, a_depth, b, c, accumulate);
  }
  tile<T, R, V>(depth, a, a_row, a_depth, b, c, accumulate);
}

template <typename T, int R = kTileRows>
void tile_rows(int64_t rows, int64_t vectors, int64_t depth, const T* a, int64_t a_row, int64_t a_depth, const T* b,
               T* c, bool accumulate) {
  if constexpr (R > 1) {
    if (rows < R) return tile_rows<T, R - 1>(rows, vectors, depth, a, a_row, a_depth, b, c, accumulate);
  }
  tile_columns<T, R>(vectors, depth, a, a_row, a_depth, b, c, accumulate);
}

// C (rows x width) (+)= A (rows x depth) B (depth x width): A(r, d) = a[r * a_row + d * a_depth];
// B and C rows are kBlock apart; width is a multiple of the lane count.
template <typename T>
void multiply(int64_t rows, int64_t width, int64_t depth, const T* a, int64_t a_row, int64_t a_depth, const T* b,
              T* c, bool accumulate) {
  constexpr int64_t L = kLanes<T>;
  const int64_t vectors = width / L;
  for (int64_t r = 0; r < rows; r += kTileRows)
    for (int64_t v = 0; v < vectors; v += kTileVectors)
      tile_rows<T>(rows - r, vectors - v, depth, a + r * a_row, a_row, a_depth, b + v * L, c + r * kBlock + v * L,
                   accumulate);
}

// out[c][r] = rows[r][c] for r < count, c < columns (rows `columns` apart); zeros for
// count <= r < width, so the padding lanes stay finite.
template <typename T>
void transpose_in(const T* rows, int64_t count, int64_t width, int64_t columns, T* out) {
  for (int64_t c = 0; c < columns; ++c) {
    for (int64_t r = 0; r < count; ++r) out[c * kBlock + r] = rows[r * columns + c];
    std::fill(out + c * kBlock + count, out + c * kBlock + width, T(0));
  }
}

// rows[r][c] = scale * in[c][r] for r < count, c < columns.
template <typename T>
void transpose_out(const T* in, int64_t count, int64_t columns, T scale, T* rows) {
  for (int64_t r = 0; r < count; ++r)
    for (int64_t c = 0; c < columns; ++c) rows[r * columns + c] = scale * in[c * kBlock + r];
}

template <typename T>
Vec<T> lane_indices() {
  Vec<T> index;
  for (int64_t k = 0; k < kLanes<T>; ++k) index[k] = T(k);
  return index;
}

// The scores of a query block against a key block, transposed and ready for the softmax:
// scores[j][i] = scale * q_i . k_j + mask[i][j], or -inf where causal hides key j from query i.
// query_t holds the block's queries transposed; mask_t is scratch for the mask's block.
template <typename T>
void transposed_scores(const AttentionArgs<T>& p, int64_t batch_item, int64_t first_query, int64_t count,
                       int64_t width, int64_t first_key, int64_t keys, const T* query_t, T* mask_t, T* scores) {
  constexpr int64_t L = kLanes<T>;
  multiply(keys, width, p.depth, p.key + (batch_item * p.keys + first_key) * p.depth, p.depth, int64_t(1), query_t,
           scores, false);
  if (p.mask != nullptr) {
    const T* mask = p.mask + batch_item * p.mask_batch_stride + first_query * p.keys + first_key;
    for (int64_t j = 0; j < keys; ++j) {
      for (int64_t i = 0; i < count; ++i) mask_t[j * kBlock + i] = mask[i * p.keys + j];
      std::fill(mask_t + j * kBlock + count, mask_t + j * kBlock + width, T(0));
    }
  }
  // Only the blocks crossing the diagonal hold hidden pairs (key index above query index).
  const bool causal = p.causal && first_key + keys - 1 > first_query;
  const Vec<T> scale = splat(p.scale), hidden = splat(kMinusInfinity<T>), lanes = lane_indices<T>();
  for (int64_t j = 0; j < keys; ++j) {
    for (int64_t v = 0; v < width; v += L) {
      Vec<T> x = load(scores + j * kBlock + v, L, T(0)) * scale;
      if (p.mask != nullptr) x += load(mask_t + j * kBlock + v, L, T(0));
      if (causal) x = lanes + T(first_query + v) < T(first_key + j) ? hidden : x;
      store(scores + j * kBlock + v, x, L);
    }
  }
}

// Forward of queries [first_query, first_query + 64): the online softmax (Milakov & Gimelshein
// 2018, as in FlashAttention) keeps each query's running max m and sum l of exp(score - m) over
// the key blocks seen so far, rescaling l and the output accumulated so far by exp(m_old - m_new)
// when the max grows; the output is divided by l once at the end. A query whose every key is
// masked (max -inf) gets output 0 and log-sum-exp +inf, so its backward probabilities are 0 (as
// torch).
template <typename T>
void forward(const AttentionArgs<T>& p, int64_t batch_item, int64_t first_query, T* output, T* log_sum_exp) {
  constexpr int64_t L = kLanes<T>;
  constexpr int64_t kVectors = kBlock / L;
  const int64_t depth = p.depth, value_depth = p.value_depth;
  const int64_t count = std::min(kBlock, p.queries - first_query), width = round_to_lanes<T>(count);
  static thread_local Workspace<T> space;
  T* query_t = space.get((depth + value_depth + 2 * kBlock) * kBlock);
  T* output_t = query_t + depth * kBlock;
  T* scores = output_t + value_depth * kBlock;
  T* mask_t = scores + kBlock * kBlock;
  const int64_t row = batch_item * p.queries + first_query;
  transpose_in(p.query + row * depth, count, width, depth, query_t);
  std::fill(output_t, output_t + value_depth * kBlock, T(0));

  const Vec<T> minus_infinity = splat(kMinusInfinity<T>), zero = splat(T(0));
  Vec<T> running_max[kVectors], total[kVectors];
  for (int64_t v = 0; v < kVectors; ++v) running_max[v] = minus_infinity, total[v] = zero;
  // Causal: keys after the block's last query are hidden from all of it.
  const int64_t key_end = p.causal ? std::min(p.keys, first_query + count) : p.keys;
  for (int64_t first_key = 0; first_key < key_end; first_key += kBlock) {
    const int64_t keys = std::min(kBlock, key_end - first_key);
    transposed_scores(p, batch_item, first_query, count, width, first_key, keys, query_t, mask_t, scores);
    Vec<T> shift[kVectors], rescale[kVectors];
    for (int64_t v = 0; v < width / L; ++v) {
      Vec<T> block_max = minus_infinity;
      for (int64_t j = 0; j < keys; ++j) block_max = maximum<T>(block_max, load(scores + j * kBlock + v * L, L, T(0)));
      const Vec<T> new_max = maximum<T>(running_max[v], block_max);
      // A query with no visible key yet keeps shift 0 (exp(-inf - 0) = 0) and nothing to rescale.
      shift[v] = new_max == minus_infinity ? zero : new_max;
      rescale[v] = running_max[v] == minus_infinity ? zero : vector_exp<T>(running_max[v] - shift[v]);
      running_max[v] = new_max;
      Vec<T> sum = zero;
      for (int64_t j = 0; j < keys; ++j) {
        const Vec<T> e = vector_exp<T>(load(scores + j * kBlock + v * L, L, T(0)) - shift[v]);
        sum += e;
        store(scores + j * kBlock + v * L, e, L);
      }
      total[v] = total[v] * rescale[v] + sum;
    }
    for (int64_t c = 0; c < value_depth; ++c)
      for (int64_t v = 0; v < width / L; ++v)
        store(output_t + c * kBlock + v * L, load(output_t + c * kBlock + v * L, L, T(0)) * rescale[v], L);
    multiply(value_depth, width, keys, p.value + (batch_item * p.keys + first_key) * value_depth, int64_t(1),
             value_depth, scores, output_t, true);
  }

  for (int64_t i = 0; i < count; ++i) {
    const T sum = total[i / L][i % L];
    const T inverse = sum > T(0) ? T(1) / sum : T(0);
    log_sum_exp[row + i] = sum > T(0) ? running_max[i / L][i % L] + std::log(sum) : std::numeric_limits<T>::infinity();
    for (int64_t c = 0; c < value_depth; ++c) output_t[c * kBlock + i] *= inverse;
  }
  transpose_out(output_t, count, value_depth, T(1), output + row * value_depth);
}

// The first backward pass, over query blocks: D_i = dO_i . O_i (kept for the second pass), then
// per key block P = exp(S - lse), dP = dO V^T, dS = P (dP - D) and dQ += scale dS K.
template <typename T>
void backward_query(const AttentionArgs<T>& p, int64_t batch_item, int64_t first_query, T* row_dot_out) {
  constexpr int64_t L = kLanes<T>;
  constexpr int64_t kVectors = kBlock / L;
  const int64_t depth = p.depth, value_depth = p.value_depth;
  const int64_t count = std::min(kBlock, p.queries - first_query), width = round_to_lanes<T>(count);
  static thread_local Workspace<T> space;
  T* query_t = space.get((2 * depth + value_depth + 3 * kBlock) * kBlock);
  T* grad_query_t = query_t + depth * kBlock;
  T* grad_output_t = grad_query_t + depth * kBlock;
  T* scores = grad_output_t + value_depth * kBlock;
  T* grad_scores = scores + kBlock * kBlock;
  T* mask_t = grad_scores + kBlock * kBlock;
  const int64_t row = batch_item * p.queries + first_query;
  transpose_in(p.query + row * depth, count, width, depth, query_t);
  transpose_in(p.grad_output + row * value_depth, count, width, value_depth, grad_output_t);
  std::fill(grad_query_t, grad_query_t + depth * kBlock, T(0));

  for (int64_t i = 0; i < count; ++i) {
    const T* grad_output = p.grad_output + (row + i) * value_depth;
    const T* output = p.output + (row + i) * value_depth;
    T dot = 0;
    for (int64_t c = 0; c < value_depth; ++c) dot += grad_output[c] * output[c];
    row_dot_out[row + i] = dot;
  }
  Vec<T> log_sum_exp[kVectors], row_dot[kVectors];
  for (int64_t v = 0; v < width / L; ++v) {
    const int64_t lanes = std::min(L, count - v * L);
    log_sum_exp[v] = load(p.log_sum_exp + row + v * L, lanes, T(0));
    row_dot[v] = load(row_dot_out + row + v * L, lanes, T(0));
  }

  const int64_t key_end = p.causal ? std::min(p.keys, first_query + count) : p.keys;
  for (int64_t first_key = 0; first_key < key_end; first_key += kBlock) {
    const int64_t keys = std::min(kBlock, key_end - first_key);
    const T* key = p.key + (batch_item * p.keys + first_key) * depth;
    const T* value = p.value + (batch_item * p.keys + first_key) * value_depth;
    transposed_scores(p, batch_item, first_query, count, width, first_key, keys, query_t, mask_t, scores);
    multiply(keys, width, value_depth, value, value_depth, int64_t(1), grad_output_t, grad_scores, false);
    for (int64_t j = 0; j < keys; ++j) {
      for (int64_t v = 0; v < width / L; ++v) {
        const Vec<T> probability = vector_exp<T>(load(scores + j * kBlock + v * L, L, T(0)) - log_sum_exp[v]);
        const Vec<T> grad = load(grad_scores + j * kBlock + v * L, L, T(0));
        store(grad_scores + j * kBlock + v * L, probability * (grad - row_dot[v]), L);
      }
    }
    multiply(depth, width, keys, key, int64_t(1), depth, grad_scores, grad_query_t, true);
  }
  transpose_out(grad_query_t, count, depth, p.scale, p.grad_query + row * depth);
}

// The second backward pass, over key blocks: per query block, P and dS again (from the saved
// log-sum-exp and D), dV += P^T dO, dK += scale dS^T Q, and dS itself as the mask's gradient.
template <typename T>
void backward_key_value(const AttentionArgs<T>& p, int64_t batch_item, int64_t first_key) {
  constexpr int64_t L = kLanes<T>;
  const int64_t depth = p.depth, value_depth = p.value_depth, keys = std::min(kBlock, p.keys - first_key);
  const int64_t width = round_to_lanes<T>(keys);
  static thread_local Workspace<T> space;
  T* key_t = space.get((2 * depth + 2 * value_depth + 2 * kBlock) * kBlock);
  T* value_t = key_t + depth * kBlock;
  T* grad_key_t = value_t + value_depth * kBlock;
  T* grad_value_t = grad_key_t + depth * kBlock;
  T* probabilities = grad_value_t + value_depth * kBlock;
  T* grad_scores = probabilities + kBlock * kBlock;
  const int64_t key_row = batch_item * p.keys + first_key;
  transpose_in(p.key + key_row * depth, keys, width, depth, key_t);
  transpose_in(p.value + key_row * value_depth, keys, width, value_depth, value_t);
  std::fill(grad_key_t, grad_key_t + (depth + value_depth) * kBlock, T(0));

  const Vec<T> scale = splat(p.scale), hidden = splat(kMinusInfinity<T>), lanes = lane_indices<T>();
  // Causal: queries before the block's first key see none of it.
  for (int64_t first_query = p.causal ? first_key : 0; first_query < p.queries; first_query += kBlock) {
    const int64_t count = std::min(kBlock, p.queries - first_query);
    const int64_t row = batch_item * p.queries + first_query;
    const T* query = p.query + row * depth;
    const T* grad_output = p.grad_output + row * value_depth;
    const bool causal = p.causal && first_key + keys - 1 > first_query;
    multiply(count, width, depth, query, depth, int64_t(1), key_t, probabilities, false);
    for (int64_t i = 0; i < count; ++i) {
      const Vec<T> log_sum_exp = splat(p.log_sum_exp[row + i]);
      const T* mask = p.mask == nullptr ? nullptr
                                        : p.mask + batch_item * p.mask_batch_stride + (first_query + i) * p.keys + first_key;
      for (int64_t v = 0; v < width; v += L) {
        Vec<T> x = load(probabilities + i * kBlock + v, L, T(0)) * scale;
        if (mask != nullptr) x += load(mask + v, std::min(L, keys - v), T(0));
        if (causal) x = lanes + T(first_key + v) > T(first_query + i) ? hidden : x;
        store(probabilities + i * kBlock + v, vector_exp<T>(x - log_sum_exp), L);
      }
    }
    multiply(count, width, value_depth, grad_output, value_depth, int64_t(1), value_t, grad_scores, false);
    multiply(value_depth, width, count, grad_output, int64_t(1), value_depth, probabilities, grad_value_t, true);
    for (int64_t i = 0; i < count; ++i) {
      const Vec<T> row_dot = splat(p.row_dot[row + i]);
      T* grad_mask = p.grad_mask == nullptr ? nullptr : p.grad_mask + (row + i) * p.keys + first_key;
      for (int64_t v = 0; v < width; v += L) {
        const Vec<T> grad = load(probabilities + i * kBlock + v, L, T(0)) *
                            (load(grad_scores + i * kBlock + v, L, T(0)) - row_dot);
        store(grad_scores + i * kBlock + v, grad, L);
        if (grad_mask != nullptr) store(grad_mask + v, grad, std::min(L, keys - v));
      }
    }
    multiply(depth, width, count, query, int64_t(1), depth, grad_scores, grad_key_t, true);
  }
  transpose_out(grad_key_t, keys, depth, p.scale, p.grad_key + key_row * depth);
  transpose_out(grad_value_t, keys, value_depth, T(1), p.grad_value + key_row * value_depth);
}

AttentionTable attention_table() {
  return {{forward<float>, backward_query<float>, backward_key_value<float>},
          {forward<double>, backward_query<double>, backward_key_value<double>}};
}

}  // namespace
}  // namespace fastcnn::cpu::isa
