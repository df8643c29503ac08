// classify.cpp: the exported LeNet-5 library from C++, behind a small owner of its context.
//
//   lenet5 export --out out
//   c++ -std=c++17 -O2 classify.cpp -I out out/liblenet5.a -lpthread -ldl -lm -o classify_cpp
//   ./classify_cpp t10k-images t10k-labels [out/lenet5.weights]
//
// Classifies every image of uncompressed Fashion-MNIST IDX files one at a time.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "lenet5.h"

// Owns one context; the C API's error text becomes the exception's message.
class Lenet5 {
public:
    explicit Lenet5(const char* weights_path) {
        lenet5_options options{};
        options.weights_path = weights_path;
        if (lenet5_create(&context_, &options) != LENET5_OK)
            throw std::runtime_error(lenet5_error(nullptr));
    }
    Lenet5(const Lenet5&) = delete;
    Lenet5& operator=(const Lenet5&) = delete;
    ~Lenet5() { lenet5_destroy(context_); }

    int classify(const std::vector<float>& image) {
        int best = lenet5_classify(context_, image.data());
        if (best < 0) throw std::runtime_error(lenet5_error(context_));
        return best;
    }

    const char* target() const { return lenet5_target(context_); }

private:
    lenet5_context* context_ = nullptr;
};

static std::vector<unsigned char> read_file(const char* path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(std::string("cannot open ") + path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int main(int argc, char** argv) {
    if (argc != 3 && argc != 4) {
        std::fprintf(stderr, "usage: %s IMAGES LABELS [WEIGHTS]\n", argv[0]);
        return 2;
    }
    try {
        const std::vector<unsigned char> images = read_file(argv[1]), labels = read_file(argv[2]);
        const size_t count = labels.size() - 8;
        if (images.size() != 16 + count * LENET5_INPUT_SIZE)
            throw std::runtime_error("images and labels do not match the model");
        Lenet5 model(argc == 4 ? argv[3] : nullptr);
        std::vector<float> image(LENET5_INPUT_SIZE);
        size_t correct = 0;
        for (size_t i = 0; i < count; ++i) {
            for (int p = 0; p < LENET5_INPUT_SIZE; ++p)
                image[size_t(p)] = images[16 + i * LENET5_INPUT_SIZE + size_t(p)] / 255.0f;
            correct += model.classify(image) == labels[8 + i];
        }
        std::printf("classified %zu images with %s one at a time\n", count, model.target());
        std::printf("{\"test_accuracy\": %.6f, \"images\": %zu}\n", double(correct) / count, count);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "classify_cpp: %s\n", e.what());
        return 1;
    }
    return 0;
}
