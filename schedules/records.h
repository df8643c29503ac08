// Tuned schedule parameters: per-layer records that the tuner writes and every build reads.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"

namespace cnnc::schedules {

// Bumped whenever a template reads its parameters differently: records of another revision are
// ignored (with a warning), never misapplied.
inline constexpr int template_revision = 4;

// A template's tunable parameters by name ("vectors", "pixels", ...); a template falls back to
// its default for any name not given.
struct ScheduleParams {
    std::map<std::string, int> values;

    int get(const std::string& name, int fallback) const;
    bool operator==(const ScheduleParams&) const = default;
    // "pixels=4 vectors=2", names in order; "default" when empty.
    std::string text() const;
};

// What a record applies to: one layer's op family and shapes, a target, the versions.
struct RecordKey {
    std::string layer;   // layer_key(): op family, input and output shapes, window
    std::string target;  // Halide target string
    std::string cnnc_version, halide_version;
    int revision = template_revision;
};

struct Record {
    RecordKey key;
    ScheduleParams params;
    double default_ms = 0, tuned_ms = 0;  // medians measured when the record was made
    int candidates = 0;                   // how many the tuner measured
};

// The canonical description of what a layer's schedule depends on, e.g.
// "conv2d 64x56x56 -> 64x56x56 k3x3 s1x1 d1x1 g1", or "" for layers no template is tuned for.
std::string layer_key(const ir::Graph& graph, const ir::Node& node);

// The key of a training kernel (its whole schedule is tuned as one): role ("train_forward",
// "train_backward" or "train_loss") and every node of the segment (none for the loss), e.g.
// "train_backward conv2d 1x28x28 -> 6x28x28 k5x5 ... | relu 6x28x28".
std::string training_key(const ir::Graph& graph, const std::vector<int>& nodes,
                         const std::string& role);

// The records' text form: one "name: value" line each, '#' comments. parse_record throws with
// the line at fault.
std::string print_record(const Record& r);
Record parse_record(const std::string& text, const std::string& origin);

// The file a record lives in, under the records folder: <target>/<op>-<hash of the layer>.txt.
std::string record_path(const std::string& folder, const RecordKey& key);

// The records of one folder that apply to one target and these versions. Records of the same
// layer made for another target, version or template revision are ignored with a warning (to
// `warnings`); records of layers this model does not have are never looked at.
class RecordSet {
public:
    RecordSet() = default;
    // Reads every record under `folder` (none if it does not exist); throws on a malformed one.
    RecordSet(const std::string& folder, std::string target);

    // The tuned parameters of a layer, or nothing (the template's defaults then apply).
    std::optional<ScheduleParams> find(const std::string& layer) const;
    // Why records of layers looked up were ignored: another target, version or revision.
    const std::vector<std::string>& warnings() const { return warnings_; }
    size_t size() const { return records_.size(); }

private:
    std::string target_;
    std::vector<std::pair<std::string, Record>> records_;  // origin, record
    mutable std::vector<std::string> warnings_;
};

// This build's versions, which records are keyed by.
std::string cnnc_version();
std::string halide_version();

}  // namespace cnnc::schedules
