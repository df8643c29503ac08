// Tensor: owned host storage described by a halide_buffer_t, the calling convention of generated
// code.
#pragma once

#include <HalideRuntime.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <string>
#include <vector>

namespace cnnc::runtime {

template <typename T>
constexpr halide_type_t halide_type_of_element();
template <>
constexpr halide_type_t halide_type_of_element<float>() {
    return halide_type_t(halide_type_float, 32);
}
template <>
constexpr halide_type_t halide_type_of_element<int32_t>() {
    return halide_type_t(halide_type_int, 32);
}

// Storage on 64-byte boundaries, a cache line and an AVX-512 vector: generated code loads whole
// vectors of weights and activations, and a vector that straddles two lines costs two loads
// (malloc gives 16-byte alignment, so where a tensor started depended on earlier allocations).
template <typename T>
struct CacheAligned {
    using value_type = T;
    static constexpr std::align_val_t alignment{64};
    CacheAligned() = default;
    template <typename U>
    CacheAligned(const CacheAligned<U>&) {}
    T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), alignment)); }
    void deallocate(T* p, size_t) { ::operator delete(p, alignment); }
    template <typename U>
    bool operator==(const CacheAligned<U>&) const {
        return true;
    }
};

// Dense, innermost-first storage (the Halide convention: extents[0] has stride 1). Copying copies
// the data; the halide_buffer_t always points into this object's own storage.
template <typename T>
class TensorOf {
public:
    TensorOf() { sync(); }
    explicit TensorOf(std::vector<int64_t> extents) : extents_(std::move(extents)) {
        int64_t n = 1;
        for (int64_t e : extents_) n *= e;
        data_.assign(size_t(n), T{});
        sync();
    }
    TensorOf(const TensorOf& o) : extents_(o.extents_), data_(o.data_) { sync(); }
    TensorOf(TensorOf&& o) noexcept : extents_(std::move(o.extents_)), data_(std::move(o.data_)) {
        sync();
        o.sync();
    }
    TensorOf& operator=(TensorOf o) noexcept {
        extents_.swap(o.extents_);
        data_.swap(o.data_);
        sync();
        return *this;
    }

    T* data() { return data_.data(); }
    const T* data() const { return data_.data(); }
    std::span<T> values() { return data_; }
    std::span<const T> values() const { return data_; }
    size_t size() const { return data_.size(); }
    const std::vector<int64_t>& extents() const { return extents_; }
    int64_t extent(int i) const { return extents_.at(size_t(i)); }
    int rank() const { return int(extents_.size()); }

    // The buffer handed to generated pipelines. Pipelines never write their inputs, so a const
    // tensor may be passed as one.
    halide_buffer_t* raw() const { return const_cast<halide_buffer_t*>(&buffer_); }

    // Same storage viewed with the outermost extent cut to `n` (a partial last batch).
    halide_buffer_t* raw_outer(int64_t n) {
        view_ = buffer_;
        view_dims_ = dims_;
        view_.dim = view_dims_.data();
        if (!view_dims_.empty()) view_dims_.back().extent = int32_t(n);
        return &view_;
    }

private:
    void sync() {
        dims_.assign(extents_.size(), halide_dimension_t{});
        int64_t stride = 1;
        for (size_t i = 0; i < extents_.size(); ++i) {
            dims_[i] = halide_dimension_t(0, int32_t(extents_[i]), int32_t(stride));
            stride *= extents_[i];
        }
        buffer_ = halide_buffer_t{};
        buffer_.host = reinterpret_cast<uint8_t*>(data_.data());
        buffer_.type = halide_type_of_element<T>();
        buffer_.dimensions = int32_t(dims_.size());
        buffer_.dim = dims_.data();
    }

    std::vector<int64_t> extents_;
    std::vector<T, CacheAligned<T>> data_;
    std::vector<halide_dimension_t> dims_;
    halide_buffer_t buffer_{};
    std::vector<halide_dimension_t> view_dims_;
    halide_buffer_t view_{};
};

using Tensor = TensorOf<float>;
using LabelTensor = TensorOf<int32_t>;

std::string extents_text(const std::vector<int64_t>& extents);

}  // namespace cnnc::runtime
