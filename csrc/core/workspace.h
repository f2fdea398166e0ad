#pragma once
// Scratch memory that outlives a call: kernels keep one Workspace per use site and thread
// (`static thread_local`), so packing buffers and im2col columns are allocated once and reused
// by every later call instead of being allocated per call. 64-byte aligned for full-width loads.
#include <cstddef>
#include <cstdlib>
#include <new>

namespace fastcnn {

template <typename T>
class Workspace {
 public:
  Workspace() = default;
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  ~Workspace() { std::free(data_); }

  // At least `count` elements; the contents are not preserved when the buffer grows.
  T* get(size_t count) {
    if (count > capacity_) {
      std::free(data_);
      const size_t bytes = ((count * sizeof(T) + 63) / 64) * 64;
      data_ = static_cast<T*>(std::aligned_alloc(64, bytes));
      if (data_ == nullptr) {
        capacity_ = 0;
        throw std::bad_alloc();
      }
      capacity_ = count;
    }
    return data_;
  }

 private:
  T* data_ = nullptr;
  size_t capacity_ = 0;
};

}  // namespace fastcnn
