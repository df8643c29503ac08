// Bridge to the PyTorch reference: a tiny named-tensor file format and a runner for the script.
//
// File format (little-endian), shared with tests/torch/lenet_reference.py:
//   8 bytes   magic "CNNCTNS1"
//   uint64    tensor count
//   per tensor:
//     uint32  name length, then the name's bytes (UTF-8, no terminator)
//     uint32  rank
//     int64   extents[rank], innermost first (cnnc's order; numpy's shape is the reverse)
//     float32 values[product of extents], innermost dimension fastest
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tests/reference/naive_ops.h"

namespace cnnc::reference {

struct NamedArray {
    std::string name;
    std::vector<int64_t> extents;  // innermost first
    std::vector<float> values;
};

// Both throw std::runtime_error naming the file on any I/O or format error.
void write_tensors(const std::string& path, const std::vector<NamedArray>& arrays);
std::vector<NamedArray> read_tensors(const std::string& path);

// Throws std::runtime_error listing the names present when `name` is absent.
const NamedArray& find_tensor(const std::vector<NamedArray>& arrays, std::string_view name);

NamedArray to_named_array(std::string name, std::vector<int64_t> extents,
                          std::span<const double> values);
std::vector<double> to_doubles(const NamedArray& array);

// The interpreter that has python3-torch (Debian's), not whatever python3 is first on PATH.
inline constexpr const char* torch_python = "/usr/bin/python3";
// Absolute path of tests/torch/lenet_reference.py in the source tree this library was built from.
std::string lenet_reference_script();

// Empty when torch_python can import torch and numpy; otherwise a message saying what to install.
std::string torch_unavailable_reason();

// The inputs the script expects: every parameter of `net` (cnnc layout), "images" and "labels"
// (labels stored as float32).
std::vector<NamedArray> lenet_reference_inputs(const SequentialNet& net, const Act& images,
                                               std::span<const int32_t> labels);

struct TorchRunOptions {
    int momentum_steps = 0;  // > 0: also run this many SGD-with-momentum steps on the batch
    double lr = 0.01;
    double momentum = 0.9;
};

// Writes `inputs` to a temporary file, runs the script through torch_python and returns what it
// wrote: "loss", "logits", "probabilities", "grad.<param>" (float64 computation), the same under
// "float32." for a float32 run, and "updated.<param>" plus "momentum.losses" with momentum steps.
// Throws std::runtime_error with a clear message when torch is unavailable or the script fails.
std::vector<NamedArray> run_lenet_reference(const std::vector<NamedArray>& inputs,
                                            const TorchRunOptions& options = {});

}  // namespace cnnc::reference
