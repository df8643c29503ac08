// Padding an activation Func: reads outside the image give a fill value.
#pragma once

#include <Halide.h>

#include "dsl/shape.h"

namespace cnnc::lower {

// Clamping the coordinates keeps every load in bounds; the select supplies the fill value, so
// the gradient flows only to real pixels.
inline Halide::Func pad_spatial(const Halide::Func& in, const Shape& shape, Halide::Expr fill,
                                const std::string& name) {
    Halide::Var c("c"), x("x"), y("y"), n("n");
    Halide::Func padded(name);
    Halide::Expr w = int(shape.width()), h = int(shape.height());
    Halide::Expr inside = x >= 0 && x < w && y >= 0 && y < h;
    padded(c, x, y, n) =
        Halide::select(inside, in(c, Halide::clamp(x, 0, w - 1), Halide::clamp(y, 0, h - 1), n),
                       fill);
    return padded;
}

}  // namespace cnnc::lower
