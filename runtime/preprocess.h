// Per-channel input normalisation of uint8 images: statistics, the float conversion, JSON form.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

namespace cnnc::runtime {

// Pixels are uint8 with the channels of one pixel adjacent, i.e. the (c, x, y) layout with c
// innermost (an IDX file of C-channel images; grey images have C = 1). Statistics are of the
// values scaled to [0, 1] (pixel / 255), one mean and one (population) standard deviation per
// channel, as torchvision's Normalize expects them.
struct ChannelStats {
    std::vector<float> mean, std;
};

enum class Normalisation {
    scale,        // x / 255
    center,       // x / 255 - mean_c
    standardise,  // (x / 255 - mean_c) / std_c
};

// "scale", "center", "standardise"; parse_normalisation throws std::invalid_argument naming
// the bad value.
std::string_view normalisation_name(Normalisation mode);
Normalisation parse_normalisation(std::string_view name);

// Statistics of `images` images of `pixels_per_image` pixels (rows * cols) of `channels` values
// each. Sums are exact integers, so the result does not depend on the data's order or size. A
// channel with zero variance (every value equal) gets std 1: dividing by ~0 would blow any
// difference in unseen images up into huge inputs. Throws std::invalid_argument naming the
// argument for a negative count, channels < 1, no pixels at all or a null pointer.
ChannelStats measure(const uint8_t* pixels, int64_t images, int64_t pixels_per_image, int channels);

// Converts a run of pixels once the mode and statistics are fixed: a 256-entry table per
// channel, each entry computed in double and rounded once, so the conversion costs one lookup
// per value and matches the formula to the last bit of float. Throws std::invalid_argument when
// the statistics do not have `channels` entries (center, standardise) or a std is not > 0.
class Normaliser {
public:
    Normaliser(Normalisation mode, const ChannelStats& stats, int channels);
    // Converts pixel_count pixels of channels() values from src to dst.
    void operator()(const uint8_t* src, float* dst, int64_t pixel_count) const;
    int channels() const { return channels_; }

private:
    int channels_;
    std::vector<float> table_;  // [channel * 256 + value]
};

// One image (or any run of whole pixels): src holds pixel_count_per_image * channels values.
// Builds a Normaliser per call; a loop over many images should keep one instead.
void normalise(const uint8_t* src, float* dst, int64_t pixel_count_per_image, int channels,
               Normalisation mode, const ChannelStats& stats);

// What is saved with a model, so inference normalises exactly as training did.
struct InputNormalisation {
    Normalisation mode = Normalisation::standardise;
    ChannelStats stats;

    // {"mode": "standardise", "mean": [..], "std": [..]}; floats survive the round trip exactly.
    nlohmann::json to_json() const;
    // Throws std::invalid_argument naming the field: missing or unknown mode, mean/std not
    // arrays of numbers, different lengths, an empty list, a std that is not > 0.
    static InputNormalisation from_json(const nlohmann::json& j);
};

}  // namespace cnnc::runtime
