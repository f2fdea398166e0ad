#pragma once
// The fused attention kernels (csrc/cpu/attention.cpp has the formulas), written once with the
// vector types and the in-register exp of vector_lanes.h and compiled once per kernel set:
// csrc/cpu/isa/<isa>/attention.cpp defines FASTCNN_VECTOR_BYTES and includes this file.
//
// Every product here has one shape: C (rows x width) (+)= A B with B and C held as rows of
// vectors (mostly a block's 64 queries or keys side by side) and A read element by element with
// any strides, each element broadcast across a vector. One register tile serves all the products
// once each block is laid out "positions across the vector":
//   forward, per query block: vectors run over the block's queries, so every query's softmax runs
//     lane-wise down the keys (no horizontal max or sum): scores^T = K (scale Q)^T and
//     output^T += V^T P^T;
//   backward, per key block: vectors run over the block's keys: scores = (scale Q) K^T,
//     dP = dO V^T, dV^T += dO^T P, dK^T += (scale Q)^T dS, and dQ += dS K on rows of E padded to
//     whole vectors, or as dot products along the keys when E is less than a vector.
// The depth E of the query/key products is often tiny (4 in SelfAttention2d), so the other
// products are not vectorised along E or Ev. Blocks are transposed in and out once per block.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/workspace.h"
#include "cpu/isa/attention_table.h"

#include "cpu/isa/vector_lanes.h"

namespace fastcnn::cpu::isa {
namespace {

constexpr int64_t kBlock = kAttentionBlock;
// Register tile: kTileRows x kTileVectors accumulators with B's kTileVectors vectors and the
// broadcast beside them fill 29 of AVX-512's 32 vector registers and 15 of the 16 otherwise.
// Six rows rather than four were 5-10% faster on the E = Ev = 64 products (AVX-512 and AVX2).
#if FASTCNN_VECTOR_BYTES == 64
constexpr int kTileRows = 6, kTileVectors = 4;
#else
constexpr int kTileRows = 6, kTileVectors = 2;
#endif

template <typename T>
int64_t round_to_lanes(int64_t count) {
  return (count + kLanes<T> - 1) / kLanes<T> * kLanes<T>;
}

// One product C (+)= A B: A(r, d) = a[r * a_row + d * a_depth], any strides (each element is
// broadcast); B's rows (one per d) ldb apart and C's rows ldc apart, both read as whole vectors.
template <typename T>
struct Product {
  const T* a;
  int64_t a_row, a_depth;
  const T* b;
  int64_t ldb;
  T* c;
  int64_t ldc;
};

// c[r][:] (+)= sum_d A(r, d) * b[d][:] for R rows and V vectors.
template <typename T, int R, int V>
void tile(int64_t depth, const Product<T>& m, bool accumulate) {
  constexpr int64_t L = kLanes<T>;
  Vec<T> sum[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) sum[r][v] = accumulate ? load(m.c + r * m.ldc + v * L, L, T(0)) : splat(T(0));
  for (int64_t d = 0; d < depth; ++d) {
    Vec<T> row[V];
    for (int v = 0; v < V; ++v) row[v] = load(m.b + d * m.ldb + v * L, L, T(0));
    for (int r = 0; r < R; ++r) {
      const Vec<T> scalar = splat(m.a[r * m.a_row + d * m.a_depth]);
      for (int v = 0; v < V; ++v) sum[r][v] += scalar * row[v];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) store(m.c + r * m.ldc + v * L, sum[r][v], L);
}

// The tile for the last, narrower column strip and the last rows.
template <typename T, int R, int V = kTileVectors>
void tile_columns(int64_t vectors, int64_t depth, const Product<T>& m, bool accumulate) {
  if constexpr (V > 1) {
    if (vectors < V) return tile_columns<T, R, V - 1>(vectors, depth, m, accumulate);
  }
  tile<T, R, V>(depth, m, accumulate);
}

template <typename T, int R = kTileRows>
void tile_rows(int64_t rows, int64_t vectors, int64_t depth, const Product<T>& m, bool accumulate) {
  if constexpr (R > 1) {
    if (rows < R) return tile_rows<T, R - 1>(rows, vectors, depth, m, accumulate);
  }
  tile_columns<T, R>(vectors, depth, m, accumulate);
}

// C (rows x width) (+)= A (rows x depth) B (depth x width); width is a multiple of the lane count.
template <typename T>
void multiply(int64_t rows, int64_t width, int64_t depth, const Product<T>& m, bool accumulate) {
  constexpr int64_t L = kLanes<T>;
  const int64_t vectors = width / L;
  for (int64_t r = 0; r < rows; r += kTileRows) {
    for (int64_t v = 0; v < vectors; v += kTileVectors) {
      const Product<T> part{m.a + r * m.a_row, m.a_row, m.a_depth, m.b + v * L, m.ldb, m.c + r * m.ldc + v * L, m.ldc};
      tile_rows<T>(rows - r, vectors - v, depth, part, accumulate);
    }
  }
}

// out[c][r] = scale * rows[r][c] for r < count, c < columns (rows `columns` apart); zeros for
// count <= r < width, so the padding lanes stay finite.
template <typename T>
void transpose_in(const T* rows, int64_t count, int64_t width, int64_t columns, T scale, T* out) {
  for (int64_t c = 0; c < columns; ++c) {
    for (int64_t r = 0; r < count; ++r) out[c * kBlock + r] = scale * rows[r * columns + c];
    std::fill(out + c * kBlock + count, out + c * kBlock + width, T(0));
  }
}

// rows[r][c] = scale * in[c][r] for r < count, c < columns.
template <typename T>
void transpose_out(const T* in, int64_t count, int64_t columns, T scale, T* rows) {
  for (int64_t r = 0; r < count; ++r)
    for (int64_t c = 0; c < columns; ++c) rows[r * columns + c] = scale * in[c * kBlock + r];
}

// out[r][:] = rows[r][:] for r < count, each row padded with zeros to `width`.
template <typename T>
void pad_rows(const T* rows, int64_t count, int64_t columns, int64_t width, T* out) {
  for (int64_t r = 0; r < count; ++r) {
    std::copy(rows + r * columns, rows + (r + 1) * columns, out + r * width);
    std::fill(out + r * width + columns, out + (r + 1) * width, T(0));
  }
}

template <typename T>
Vec<T> lane_indices() {
  Vec<T> index;
  for (int64_t k = 0; k < kLanes<T>; ++k) index[k] = T(k);
  return index;
}

// Forward of queries [first_query, first_query + 64), laid out across the vectors: per key block,
// scores^T = K (scale Q)^T (+ mask^T), then the online softmax (Milakov & Gimelshein 2018, as in
// FlashAttention) lane-wise: each query's running max m and sum l of exp(score - m) over the
// key blocks so far, l and the output so far rescaled by exp(m_old - m_new) when the max grows,
// and output^T += V^T P^T; the output is divided by l once at the end. A query whose every key is
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
  transpose_in(p.query + row * depth, count, width, depth, p.scale, query_t);
  std::fill(output_t, output_t + value_depth * kBlock, T(0));

  const Vec<T> minus_infinity = splat(kMinusInfinity<T>), zero = splat(T(0)), lanes = lane_indices<T>();
  Vec<T> running_max[kVectors], total[kVectors], rescale[kVectors];
  for (int64_t v = 0; v < kVectors; ++v) running_max[v] = minus_infinity, total[v] = zero;
  // Causal: keys after the block's last query are hidden from all of it.
  const int64_t key_end = p.causal ? std::min(p.keys, first_query + count) : p.keys;
  for (int64_t first_key = 0; first_key < key_end; first_key += kBlock) {
    const int64_t keys = std::min(kBlock, key_end - first_key);
    const T* key = p.key + (batch_item * p.keys + first_key) * depth;
    multiply(keys, width, depth, Product<T>{key, depth, 1, query_t, kBlock, scores, kBlock}, false);
    if (p.mask != nullptr) {
      const T* mask = p.mask + (batch_item / p.mask_repeat * p.queries + first_query) * p.keys + first_key;
      // Strips of 16 keys: each query's 16 mask values are one contiguous read.
      for (int64_t strip = 0; strip < keys; strip += 16) {
        const int64_t strip_keys = std::min<int64_t>(16, keys - strip);
        for (int64_t i = 0; i < count; ++i)
          for (int64_t j = strip; j < strip + strip_keys; ++j) mask_t[j * kBlock + i] = mask[i * p.keys + j];
      }
      for (int64_t j = 0; j < keys; ++j) std::fill(mask_t + j * kBlock + count, mask_t + j * kBlock + width, T(0));
    }
    // Only the blocks crossing the diagonal hold hidden pairs (key index above query index).
    const bool causal = p.causal && first_key + keys - 1 > first_query;
    const int64_t vectors = width / L;
    // Keys in the outer loops, queries' vectors inner: independent max and sum chains.
    Vec<T> block_max[kVectors], shift[kVectors], sum[kVectors];
    for (int64_t v = 0; v < vectors; ++v) block_max[v] = minus_infinity, sum[v] = zero;
    for (int64_t j = 0; j < keys; ++j) {
      T* scores_row = scores + j * kBlock;
      for (int64_t v = 0; v < vectors; ++v) {
        Vec<T> x = load(scores_row + v * L, L, T(0));
        if (p.mask != nullptr) x += load(mask_t + j * kBlock + v * L, L, T(0));
        if (causal) x = lanes + T(first_query + v * L) < T(first_key + j) ? minus_infinity : x;
        if (p.mask != nullptr || causal) store(scores_row + v * L, x, L);
        block_max[v] = maximum<T>(block_max[v], x);
      }
    }
    for (int64_t v = 0; v < vectors; ++v) {
      const Vec<T> new_max = maximum<T>(running_max[v], block_max[v]);
      // A query with no visible key yet keeps shift 0 (exp(-inf - 0) = 0) and nothing to rescale.
      shift[v] = new_max == minus_infinity ? zero : new_max;
      rescale[v] = running_max[v] == minus_infinity ? zero : vector_exp<T, true>(running_max[v] - shift[v]);
      running_max[v] = new_max;
    }
    for (int64_t j = 0; j < keys; ++j) {
      T* scores_row = scores + j * kBlock;
      for (int64_t v = 0; v < vectors; ++v) {
        const Vec<T> e = vector_exp<T, true>(load(scores_row + v * L, L, T(0)) - shift[v]);
        sum[v] += e;
        store(scores_row + v * L, e, L);
      }
    }
    for (int64_t v = 0; v < vectors; ++v) total[v] = total[v] * rescale[v] + sum[v];
    for (int64_t c = 0; c < value_depth; ++c)
      for (int64_t v = 0; v < width / L; ++v)
        store(output_t + c * kBlock + v * L, load(output_t + c * kBlock + v * L, L, T(0)) * rescale[v], L);
    const T* value = p.value + (batch_item * p.keys + first_key) * value_depth;
    multiply(value_depth, width, keys, Product<T>{value, 1, value_depth, scores, kBlock, output_t, kBlock}, true);
  }

  for (int64_t i = 0; i < count; ++i) {
    const T sum = total[i / L][i % L];
    const T inverse = sum > T(0) ? T(1) / sum : T(0);
    log_sum_exp[row + i] =
        sum > T(0) ? running_max[i / L][i % L] + std::log(sum) : std::numeric_limits<T>::infinity();
    for (int64_t c = 0; c < value_depth; ++c) output_t[c * kBlock + i] *= inverse;
  }
  transpose_out(output_t, count, value_depth, T(1), output + row * value_depth);
}

// Backward of keys [first_key, key_end) (whole blocks) of one batch item against every query,
// laid out across the vectors by key. Per key block and query block it recomputes the scores
// from (scale Q) K^T exactly as the forward did, so P = exp(S - lse) matches it, then
// dP = dO V^T, dV += P^T dO, dS = P (dP - D), dK += dS^T (scale Q), dQ += dS K, and dS is the
// mask's gradient. dQ (scaled) covers only these keys: the caller sums the key ranges.
template <typename T>
void backward(const AttentionArgs<T>& p, int64_t batch_item, int64_t first_key, int64_t key_end, T* grad_query) {
  constexpr int64_t L = kLanes<T>;
  const int64_t depth = p.depth, value_depth = p.value_depth, queries = p.queries;
  const int64_t padded_depth = round_to_lanes<T>(depth);
  // dQ accumulates per query either as a row padded to whole vectors (a product like the others)
  // or, when E is less than a vector, which would leave most lanes of such a row idle, as one
  // vector of partial dot products along the keys per (query, e), summed across once at the end.
  const bool dots = depth < L;
  const int64_t grad_query_width = dots ? depth * L : padded_depth;
  static thread_local Workspace<T> space;
  T* scaled_query = space.get((depth + grad_query_width + 1) * queries +
                              (2 * depth + 2 * value_depth + padded_depth + 2 * kBlock) * kBlock);
  T* grad_query_rows = scaled_query + depth * queries;  // queries x grad_query_width
  T* row_dot = grad_query_rows + grad_query_width * queries;
  T* key_t = row_dot + queries;
  T* value_t = key_t + depth * kBlock;
  T* grad_key_t = value_t + value_depth * kBlock;
  T* grad_value_t = grad_key_t + depth * kBlock;
  T* key_rows = grad_value_t + value_depth * kBlock;  // kBlock x padded_depth
  T* probabilities = key_rows + kBlock * padded_depth;
  T* grad_scores = probabilities + kBlock * kBlock;

  const int64_t first_row = batch_item * queries;
  const T* query = p.query + first_row * depth;
  const T* grad_output = p.grad_output + first_row * value_depth;
  const T* log_sum_exp = p.log_sum_exp + first_row;
  for (int64_t i = 0; i < queries * depth; ++i) scaled_query[i] = p.scale * query[i];
  for (int64_t i = 0; i < queries; ++i) {
    const T* output = p.output + (first_row + i) * value_depth;
    T dot = 0;
    for (int64_t c = 0; c < value_depth; ++c) dot += grad_output[i * value_depth + c] * output[c];
    row_dot[i] = dot;
  }
  std::fill(grad_query_rows, grad_query_rows + queries * grad_query_width, T(0));

  const Vec<T> hidden = splat(kMinusInfinity<T>), lanes = lane_indices<T>();
  for (int64_t block = first_key; block < key_end; block += kBlock) {
    const int64_t keys = std::min(kBlock, key_end - block), width = round_to_lanes<T>(keys);
    const int64_t key_row = batch_item * p.keys + block;
    transpose_in(p.key + key_row * depth, keys, width, depth, T(1), key_t);
    transpose_in(p.value + key_row * value_depth, keys, width, value_depth, T(1), value_t);
    if (!dots) pad_rows(p.key + key_row * depth, keys, depth, padded_depth, key_rows);
    std::fill(grad_key_t, grad_key_t + (depth + value_depth) * kBlock, T(0));
    // Causal: queries before the block's first key see none of it.
    for (int64_t first_query = p.causal ? block : 0; first_query < queries; first_query += kBlock) {
      const int64_t count = std::min(kBlock, queries - first_query);
      const T* query_block = scaled_query + first_query * depth;
      const T* grad_output_block = grad_output + first_query * value_depth;
      const bool causal = p.causal && block + keys - 1 > first_query;
      multiply(count, width, depth, Product<T>{query_block, depth, 1, key_t, kBlock, probabilities, kBlock}, false);
      for (int64_t i = 0; i < count; ++i) {
        const Vec<T> shift = splat(log_sum_exp[first_query + i]);
        const T* mask = p.mask == nullptr
                            ? nullptr
                            : p.mask + (batch_item / p.mask_repeat * queries + first_query + i) * p.keys + block;
        for (int64_t v = 0; v < width; v += L) {
          Vec<T> x = load(probabilities + i * kBlock + v, L, T(0));
          if (mask != nullptr) x += load(mask + v, std::min(L, keys - v), T(0));
          if (causal) x = lanes + T(block + v) > T(first_query + i) ? hidden : x;
          store(probabilities + i * kBlock + v, vector_exp<T>(x - shift), L);
        }
      }
      multiply(count, width, value_depth,
               Product<T>{grad_output_block, value_depth, 1, value_t, kBlock, grad_scores, kBlock}, false);
      multiply(value_depth, width, count,
               Product<T>{grad_output_block, 1, value_depth, probabilities, kBlock, grad_value_t, kBlock}, true);
      for (int64_t i = 0; i < count; ++i) {
        const Vec<T> dot = splat(row_dot[first_query + i]);
        T* grad_mask = p.grad_mask == nullptr ? nullptr : p.grad_mask + (first_row + first_query + i) * p.keys + block;
        for (int64_t v = 0; v < width; v += L) {
          const Vec<T> grad =
              load(probabilities + i * kBlock + v, L, T(0)) * (load(grad_scores + i * kBlock + v, L, T(0)) - dot);
          store(grad_scores + i * kBlock + v, grad, L);
          if (grad_mask != nullptr) store(grad_mask + v, grad, std::min(L, keys - v));
        }
      }
      multiply(depth, width, count, Product<T>{query_block, 1, depth, grad_scores, kBlock, grad_key_t, kBlock}, true);
      if (dots) {
        for (int64_t i = 0; i < count; ++i) {
          T* sums = grad_query_rows + (first_query + i) * grad_query_width;
          for (int64_t e = 0; e < depth; ++e) {
            Vec<T> sum = load(sums + e * L, L, T(0));
            for (int64_t v = 0; v < width; v += L)
              sum += load(grad_scores + i * kBlock + v, L, T(0)) * load(key_t + e * kBlock + v, L, T(0));
            store(sums + e * L, sum, L);
          }
        }
      } else {
        multiply(count, padded_depth, keys,
                 Product<T>{grad_scores, kBlock, 1, key_rows, padded_depth,
                            grad_query_rows + first_query * padded_depth, padded_depth},
                 true);
      }
    }
    transpose_out(grad_key_t, keys, depth, T(1), p.grad_key + key_row * depth);
    transpose_out(grad_value_t, keys, value_depth, T(1), p.grad_value + key_row * value_depth);
  }
  for (int64_t i = 0; i < queries; ++i)
    for (int64_t e = 0; e < depth; ++e) {
      const T* sums = grad_query_rows + i * grad_query_width;
      grad_query[i * depth + e] = p.scale * (dots ? horizontal_sum<T>(load(sums + e * L, L, T(0))) : sums[e]);
    }
}

AttentionTable attention_table() {
  return {{forward<float>, backward<float>}, {forward<double>, backward<double>}};
}

}  // namespace
}  // namespace fastcnn::cpu::isa
