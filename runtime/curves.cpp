// Training history output: CSV rows and a two-panel SVG chart, both written atomically.
#include "runtime/curves.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include "runtime/errors.h"
#include "runtime/files.h"

namespace cnnc::runtime {
namespace {

std::string format(const char* pattern, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, pattern, v);
    return buf;
}

std::string csv_number(double v) {
    if (std::isnan(v)) return "";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    return format("%.9g", v);
}

std::string xml_escaped(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&apos;";
                break;
            default:
                // Control characters other than tab and newline are not allowed in XML 1.0.
                if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n') out += c;
        }
    }
    return out;
}

// An axis from lo to hi in steps of 1, 2 or 5 times a power of ten, the ends on whole steps.
struct Axis {
    double lo = 0, hi = 1, step = 1;
    int decimals = 0;  // enough to tell the tick labels apart

    std::vector<double> ticks() const {
        std::vector<double> t;
        for (int i = 0; i <= 100; ++i) {
            double v = lo + i * step;
            if (v > hi + step * 1e-6) break;
            t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);  // no "-0.00" label
        }
        return t;
    }
    std::string label(double v) const {
        return format(("%." + std::to_string(decimals) + "f").c_str(), v);
    }
};

Axis nice_axis(double lo, double hi, bool integral) {
    if (!(lo <= hi)) lo = 0, hi = 1;  // no finite values at all
    if (lo == hi) {
        // A flat series still gets a readable band around it.
        double pad = integral ? 1 : (lo != 0 ? std::abs(lo) * 0.1 : 1);
        lo -= pad;
        hi += pad;
    }
    const double raw = (hi - lo) / 5;
    const double magnitude = std::pow(10, std::floor(std::log10(raw)));
    const double f = raw / magnitude;
    Axis a;
    a.step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * magnitude;
    if (integral) a.step = std::max(1.0, std::round(a.step));
    a.lo = std::floor(lo / a.step + 1e-9) * a.step;
    a.hi = std::ceil(hi / a.step - 1e-9) * a.step;
    a.decimals = std::max(0, int(-std::floor(std::log10(a.step) + 1e-9)));
    return a;
}

struct Series {
    const char* name;
    const char* colour;
    const char* dash;                               // stroke-dasharray, "" for solid
    std::vector<std::pair<double, double>> points;  // (epoch, value); value may be NaN
};

// The page: title on top, two panels side by side; all sizes in SVG user units (pixels).
constexpr double page_width = 960, page_height = 400, panel_width = 480;
constexpr double margin_left = 70, margin_right = 20, margin_top = 70, margin_bottom = 55;
constexpr size_t marker_limit = 40;  // more points than this: lines only, markers would clutter
constexpr double inf = std::numeric_limits<double>::infinity();

void panel(std::string& out, double x0, const std::string& id, const std::string& heading,
           const std::string& y_label, const std::vector<Series>& series, const Axis& xa) {
    double y_lo = inf, y_hi = -inf;
    for (const Series& s : series)
        for (auto [x, y] : s.points)
            if (std::isfinite(y)) y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y);
    const Axis ya = nice_axis(y_lo, y_hi, false);

    const double left = x0 + margin_left, right = x0 + panel_width - margin_right;
    const double top = margin_top, bottom = page_height - margin_bottom;
    auto px = [&](double x) { return left + (x - xa.lo) / (xa.hi - xa.lo) * (right - left); };
    auto py = [&](double y) { return bottom - (y - ya.lo) / (ya.hi - ya.lo) * (bottom - top); };
    auto f1 = [](double v) { return format("%.1f", v); };

    out += "<g id=\"" + id + "\">\n";
    out += "<text x=\"" + f1((left + right) / 2) + "\" y=\"" + f1(top - 14) +
           "\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">" + heading +
           "</text>\n";
    for (double t : ya.ticks()) {
        const std::string y = f1(py(t));
        out += "<line x1=\"" + f1(left) + "\" y1=\"" + y + "\" x2=\"" + f1(right) + "\" y2=\"" + y +
               "\" stroke=\"#e4e4e4\"/>\n";
        out += "<text x=\"" + f1(left - 7) + "\" y=\"" + f1(py(t) + 4) +
               "\" text-anchor=\"end\" font-size=\"11\">" + ya.label(t) + "</text>\n";
    }
    for (double t : xa.ticks()) {
        const std::string x = f1(px(t));
        out += "<line x1=\"" + x + "\" y1=\"" + f1(bottom) + "\" x2=\"" + x + "\" y2=\"" +
               f1(bottom + 5) + "\" stroke=\"#333\"/>\n";
        out += "<text x=\"" + x + "\" y=\"" + f1(bottom + 18) +
               "\" text-anchor=\"middle\" font-size=\"11\">" + xa.label(t) + "</text>\n";
    }
    out += "<rect x=\"" + f1(left) + "\" y=\"" + f1(top) + "\" width=\"" + f1(right - left) +
           "\" height=\"" + f1(bottom - top) + "\" fill=\"none\" stroke=\"#333\"/>\n";
    out += "<text x=\"" + f1((left + right) / 2) + "\" y=\"" + f1(bottom + 40) +
           "\" text-anchor=\"middle\" font-size=\"12\">epoch</text>\n";
    const double label_x = x0 + 18, label_y = (top + bottom) / 2;
    out += "<text x=\"" + f1(label_x) + "\" y=\"" + f1(label_y) + "\" transform=\"rotate(-90 " +
           f1(label_x) + " " + f1(label_y) + ")\" text-anchor=\"middle\" font-size=\"12\">" +
           y_label + "</text>\n";

    // Curves: a polyline per run of finite values, a dot for a point with no neighbour.
    int upper_right = 0, lower_right = 0;  // points where the legend might go
    for (const Series& s : series) {
        const std::string style =
            std::string(" stroke=\"") + s.colour + "\"" +
            (*s.dash ? std::string(" stroke-dasharray=\"") + s.dash + "\"" : std::string());
        const bool markers = s.points.size() <= marker_limit;
        std::vector<std::pair<double, double>> run;
        auto flush = [&] {
            if (run.size() > 1) {
                out += "<polyline fill=\"none\" stroke-width=\"2\"" + style + " points=\"";
                // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on "," + string.
                for (size_t i = 0; i < run.size(); ++i) {
                    if (i) out += ' ';
                    out += f1(run[i].first);
                    out += ',';
                    out += f1(run[i].second);
                }
                out += "\"/>\n";
            }
            for (auto [x, y] : run)
                if (markers || run.size() == 1)
                    out += "<circle cx=\"" + f1(x) + "\" cy=\"" + f1(y) + "\" r=\"3\" fill=\"" +
                           s.colour + "\"/>\n";
            run.clear();
        };
        for (auto [x, y] : s.points) {
            if (!std::isfinite(y)) {
                flush();
                continue;
            }
            run.emplace_back(px(x), py(y));
            if (px(x) > right - 150) {
                upper_right += py(y) < top + 60;
                lower_right += py(y) > bottom - 60;
            }
        }
        flush();
    }

    // Legend in the right-hand corner the curves leave emptier (top for falling losses, bottom
    // for rising accuracies).
    const double lx = right - 118, ly = upper_right <= lower_right ? top + 8 : bottom - 52;
    out += "<rect x=\"" + f1(lx) + "\" y=\"" + f1(ly) +
           "\" width=\"110\" height=\"44\" fill=\"#fff\" fill-opacity=\"0.85\" stroke=\"#999\"/>\n";
    for (size_t i = 0; i < series.size(); ++i) {
        const Series& s = series[i];
        const double y = ly + 15 + 16 * double(i);
        out += "<line x1=\"" + f1(lx + 8) + "\" y1=\"" + f1(y) + "\" x2=\"" + f1(lx + 36) +
               "\" y2=\"" + f1(y) + "\" stroke-width=\"2\" stroke=\"" + s.colour + "\"" +
               (*s.dash ? std::string(" stroke-dasharray=\"") + s.dash + "\"" : std::string()) +
               "/>\n";
        out += "<text x=\"" + f1(lx + 42) + "\" y=\"" + f1(y + 4) + "\" font-size=\"12\">" +
               s.name + "</text>\n";
    }
    if (series.front().points.empty())
        out += "<text x=\"" + f1((left + right) / 2) + "\" y=\"" + f1((top + bottom) / 2) +
               "\" text-anchor=\"middle\" font-size=\"13\" fill=\"#777\">no epochs yet</text>\n";
    out += "</g>\n";
}

}  // namespace

std::string csv_text(const std::vector<EpochRecord>& records) {
    std::string out =
        "epoch,train_loss,train_accuracy,validation_loss,validation_accuracy,learning_rate,"
        "seconds\n";
    for (const EpochRecord& r : records) {
        out += std::to_string(r.epoch);
        for (double v : {r.train_loss, r.train_accuracy, r.validation_loss, r.validation_accuracy,
                         r.learning_rate, r.seconds}) {
            out += ',';
            out += csv_number(v);
        }
        out += "\n";
    }
    return out;
}

std::string svg_text(const std::vector<EpochRecord>& records, const std::string& title) {
    const char* train_colour = "#1f77b4";
    const char* validation_colour = "#e6550d";
    Series train_loss{"train", train_colour, "", {}};
    Series validation_loss{"validation", validation_colour, "6 4", {}};
    Series train_accuracy = train_loss, validation_accuracy = validation_loss;
    double x_lo = inf, x_hi = -inf;
    for (const EpochRecord& r : records) {
        const double e = r.epoch;
        x_lo = std::min(x_lo, e);
        x_hi = std::max(x_hi, e);
        train_loss.points.emplace_back(e, r.train_loss);
        validation_loss.points.emplace_back(e, r.validation_loss);
        train_accuracy.points.emplace_back(e, 100 * r.train_accuracy);
        validation_accuracy.points.emplace_back(e, 100 * r.validation_accuracy);
    }
    const Axis xa = nice_axis(x_lo, x_hi, true);

    const std::string escaped = xml_escaped(title);
    const std::string w = format("%.0f", page_width), h = format("%.0f", page_height);
    std::string out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + w + "\" height=\"" +
                      h + "\" viewBox=\"0 0 " + w + " " + h +
                      "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n";
    out += "<title>" + escaped + "</title>\n";
    out += "<rect width=\"" + w + "\" height=\"" + h + "\" fill=\"#fff\"/>\n";
    out += "<text x=\"" + format("%.0f", page_width / 2) +
           "\" y=\"30\" text-anchor=\"middle\" font-size=\"18\" font-weight=\"bold\">" + escaped +
           "</text>\n";
    panel(out, 0, "loss", "Loss", "loss", {train_loss, validation_loss}, xa);
    panel(out, panel_width, "accuracy", "Accuracy", "accuracy (%)",
          {train_accuracy, validation_accuracy}, xa);
    out += "</svg>\n";
    return out;
}

void write_csv(const std::string& path, const std::vector<EpochRecord>& records) {
    write_atomically(path, csv_text(records), "training history");
}

void write_svg(const std::string& path, const std::vector<EpochRecord>& records,
               const std::string& title) {
    write_atomically(path, svg_text(records, title), "training curves");
}

}  // namespace cnnc::runtime
