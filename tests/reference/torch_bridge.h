// Bridge to the PyTorch references: a tiny named-tensor file format and runners for the scripts.
//
// File format (little-endian), shared with tests/torch/cnnc_tensors.py. Version 1:
//   8 bytes   magic "CNNCTNS1"
//   uint64    tensor count
//   per tensor:
//     uint32  name length, then the name's bytes (UTF-8, no terminator)
//     uint32  rank
//     int64   extents[rank], innermost first (cnnc's order; numpy's shape is the reverse)
//     float32 values[product of extents], innermost dimension fastest
// Version 2 ("CNNCTNS2") adds, right after each name, a uint8 dtype: 0 float32, 1 float64,
// 2 UTF-8 text (rank 1, extent = byte count, followed by the bytes). Files whose tensors are all
// float32 are written as version 1; both versions are read.
//
// Scripts (run with torch_python), each documented at its top:
//   tests/torch/lenet_reference.py  LeNet-5 loss, gradients and momentum steps
//   tests/torch/op_reference.py     one op: output and autograd gradients (run_op_reference)
//   tests/torch/optim_reference.py  torch.optim on given gradients (run_optimizer_reference)
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tests/reference/naive_ops.h"

namespace cnnc::reference {

enum class Dtype : uint8_t { float32 = 0, float64 = 1, text = 2 };

struct NamedArray {
    std::string name;
    std::vector<int64_t> extents;  // innermost first
    // float32 entries: the values. float64 entries: the values rounded to float (the exact ones
    // are in values64). Text entries: empty.
    std::vector<float> values;
    Dtype dtype = Dtype::float32;
    std::vector<double> values64{};  // float64 entries only
    std::string text{};              // text entries only (extents = {byte count})
};

// Both throw std::runtime_error naming the file on any I/O or format error.
void write_tensors(const std::string& path, const std::vector<NamedArray>& arrays);
std::vector<NamedArray> read_tensors(const std::string& path);

// Throws std::runtime_error listing the names present when `name` is absent.
const NamedArray& find_tensor(const std::vector<NamedArray>& arrays, std::string_view name);

// A float32 entry (values rounded to float).
NamedArray to_named_array(std::string name, std::vector<int64_t> extents,
                          std::span<const double> values);
// A float64 entry: the values travel exactly.
NamedArray to_named_array64(std::string name, std::vector<int64_t> extents,
                            std::span<const double> values);
NamedArray text_array(std::string name, std::string text);
// The values as doubles: exact for float64 entries; throws for text entries.
std::vector<double> to_doubles(const NamedArray& array);

// An activation as a float64 entry: flat ones (w = h = 1) as (f, n), others as (c, x, y, n).
NamedArray act_to_named_array(std::string name, const Act& act);
// Back to an Act: (c, x, y, n) -> Act(c, w, h, n); (f, n) -> flat; (e) -> flat (e, 1).
Act named_array_to_act(const NamedArray& array);

// The interpreter that has python3-torch (Debian's), not whatever python3 is first on PATH.
inline constexpr const char* torch_python = "/usr/bin/python3";
// Absolute paths of the scripts in the source tree this library was built from.
std::string lenet_reference_script();
std::string op_reference_script();
std::string optim_reference_script();

// Empty when torch_python finds torch and numpy; otherwise a message saying what to install.
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

// ---- single ops and optimizers ------------------------------------------------------------------

// One case for op_reference.py or optim_reference.py: the JSON spec and the named inputs.
// Names (case and tensors) must not contain '/'.
struct ReferenceCase {
    std::string name;
    std::string spec_json;
    std::vector<NamedArray> tensors;
};

// Runs one op through tests/torch/op_reference.py: `tensors` holds "input" ("input_1", ... for add
// and concat), parameters by role ("weight", "bias", "running_mean", "running_var"), "labels",
// "targets" or "mask" where the op needs them, and "grad_output"; the spec JSON names the op and
// its fields (documented in the script). Returns "output", "grad.input", "grad.input_<k>",
// "grad.weight", "grad.bias" (when given), and for batch_norm while training
// "running_mean.updated" and "running_var.updated", all float64.
// Throws std::runtime_error with the script's message when it fails or torch is unavailable.
std::vector<NamedArray> run_op_reference(const std::string& spec_json,
                                         const std::vector<NamedArray>& tensors);
// Many cases in one interpreter (importing torch takes about a second each time); the results
// are in the order of `cases`, named without the case prefix.
std::vector<std::vector<NamedArray>> run_op_references(const std::vector<ReferenceCase>& cases);

// Runs torch.optim through tests/torch/optim_reference.py: `tensors` holds "param.<i>" and
// "grad.<i>.step<k>" for k = 0 .. K-1 (the gradient that step k + 1 applies); returns
// "param.<i>.step<k>" for k = 0 .. K (the parameter after k steps; step0 is the initial value) and
// "state.<i>.<name>" (after the last step), float64. Optimizer state names: momentum_buffer (SGD
// family with momentum, rmsprop with momentum), sum (adagrad), square_avg (adadelta, rmsprop),
// acc_delta (adadelta), grad_avg (centered rmsprop), exp_avg, exp_avg_sq, max_exp_avg_sq
// (amsgrad) (adam, adamw), step (1 value; all but the SGD family). The spec JSON: {"name": sgd|momentum|nesterov|adagrad|adadelta|rmsprop|adam|
// adamw, "lr", "momentum", "dampening", "weight_decay", "betas": [b1, b2], "eps", "rho", "alpha",
// "initial_accumulator_value", "lr_decay", "centered", "amsgrad", "l1", "lr_per_step"}; fields
// that do not apply to the optimizer are errors, absent ones take torch's defaults.
std::vector<NamedArray> run_optimizer_reference(const std::string& spec_json,
                                                const std::vector<NamedArray>& tensors);
std::vector<std::vector<NamedArray>> run_optimizer_references(
    const std::vector<ReferenceCase>& cases);

// "param.<i>" and "grad.<i>.step<k>" (float64, flat) from params[i] and grads[k][i], k = 0 .. K-1.
std::vector<NamedArray> optimizer_reference_inputs(
    const std::vector<std::vector<double>>& params,
    const std::vector<std::vector<std::vector<double>>>& grads);

}  // namespace cnnc::reference
