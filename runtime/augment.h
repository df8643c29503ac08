// Augmenter: seeded, order-independent data augmentation of float images in (c, x, y) layout.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cnnc::runtime {

// What to do to each training image; everything off by default. Applied in this order:
// crop, flip, translate, rotate (geometry), then brightness, contrast, noise. Images are already
// normalised, so "zero fill" fills with 0 in that space (the mean colour after standardising)
// and brightness, contrast and noise are in normalised units too.
struct AugmentOptions {
    int crop_padding = 0;            // crop=P: pad by P with zeros, crop W x H at [0, 2P]^2
    bool horizontal_flip = false;    // flip: mirror x with probability 0.5
    int max_translation = 0;         // translate=T: shift by integers in [-T, T], zero fill
    float max_rotation_degrees = 0;  // rotate=R: angle in [-R, R] about the centre, bilinear
    float brightness = 0;            // brightness=B: add a delta in [-B, B]
    float contrast = 0;              // contrast=C: scale about the image mean by [1-C, 1+C]
    float noise_std = 0;             // noise=N: add Gaussian noise of std N to every value

    // Parses "crop=4,flip,translate=2,rotate=10,brightness=0.1,contrast=0.1,noise=0.05" (any
    // subset, any order); "" and "none" turn everything off. Throws std::invalid_argument
    // naming the key or value: an unknown or repeated key, a missing or unexpected value, a
    // value that is not a number or out of range (see validate()).
    static AugmentOptions parse(std::string_view spec);
    // Canonical spec of the options that are on ("none" when none is); parse(spec()) == *this.
    std::string spec() const;
    bool any() const;
    // Throws std::invalid_argument naming the option for crop or translate < 0, rotate outside
    // [0, 180], brightness or noise < 0, contrast outside [0, 1], or a non-finite value.
    void validate() const;

    bool operator==(const AugmentOptions&) const = default;
};

// The random choices for one image, all drawn up front from (seed, epoch, sample id). Each
// choice has its own slot in the counter-based stream, so turning one option on or off leaves
// the others' draws unchanged.
struct AugmentDraws {
    int crop_dx = 0, crop_dy = 0;  // the content's shift by the crop, in [-P, P]
    bool flip = false;
    int translate_dx = 0, translate_dy = 0;
    double rotation_degrees = 0;
    float brightness_delta = 0;
    float contrast_factor = 1;
    uint64_t noise_key = 0;  // the noise of value i comes from (noise_key, i)
};

// Thread-safe and stateless: apply() may run on many images at once from several threads, and
// an image's augmentation depends only on (seed, epoch, sample_id) — never on call order or on
// the thread — so multithreaded runs and runs resumed from a checkpoint see identical images.
class Augmenter {
public:
    // Throws std::invalid_argument as AugmentOptions::validate().
    Augmenter(AugmentOptions options, uint64_t seed);

    // Augments one image of `width` x `height` pixels of `channels` floats each, laid out
    // (c, x, y) with c innermost, in place. `sample_id` identifies the image within the data
    // set (e.g. its index in the file) and `epoch` the pass over it. Throws
    // std::invalid_argument for a null image or a size < 1.
    void apply(float* image, int channels, int width, int height, uint64_t sample_id,
               uint64_t epoch) const;

    AugmentDraws draws(uint64_t sample_id, uint64_t epoch) const;
    const AugmentOptions& options() const { return options_; }

private:
    AugmentOptions options_;
    uint64_t seed_;
};

// The geometric building blocks apply() uses, for tests and for callers with other plans. All
// work in place on one (c, x, y) image and fill uncovered pixels with 0.

// Moves the content by (dx, dy): out(x, y) = in(x - dx, y - dy).
void shift_image(float* image, int channels, int width, int height, int dx, int dy);
// Mirrors x: out(x, y) = in(width - 1 - x, y).
void flip_image_horizontally(float* image, int channels, int width, int height);
// Turns the content by `degrees` about the centre ((width - 1) / 2, (height - 1) / 2),
// counter-clockwise as displayed with y pointing down (torchvision's convention), sampling
// bilinearly.
void rotate_image(float* image, int channels, int width, int height, double degrees);

}  // namespace cnnc::runtime
