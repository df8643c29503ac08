// Writes the optimizer update libraries and the Halide runtime library every model program links.
#include <iostream>

#include "compiler/emit/aot.h"

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: " << argv[0] << " OUT_DIR TARGET\n";
        return 2;
    }
    try {
        std::string target = argv[2];
        cnnc::emit::emit_optimizers(
            {argv[1], Halide::Target(target == "host" ? Halide::get_host_target().to_string()
                                                      : target)});
    } catch (const std::exception& e) {
        std::cerr << "cnnc: error: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
