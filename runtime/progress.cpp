// Progress display: pure formatting helpers plus the terminal / plain-log output policy.
#include "runtime/progress.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

namespace cnnc::runtime {
namespace {

constexpr auto redraw_interval = std::chrono::milliseconds(100);

}  // namespace

double items_per_second(int64_t items, double seconds) {
    return seconds > 0 ? double(items) / seconds : 0.0;
}

std::string progress_bar(int64_t done, int64_t total, int width) {
    // An empty epoch counts as complete rather than dividing by zero.
    double fraction = total > 0 ? std::clamp(double(done) / double(total), 0.0, 1.0) : 1.0;
    int filled = int(fraction * width);
    return std::string(size_t(filled), '#') + std::string(size_t(width - filled), '.');
}

std::string progress_line(const std::string& label, int64_t done, int64_t total, double seconds,
                          double loss) {
    // Pad `done` to the width of `total` so the rest of the line stays put while it grows.
    int digits = int(std::to_string(total).size());
    char buf[512];  // %.4f of an absurd loss can be long; snprintf truncates, never overflows
    std::snprintf(buf, sizeof buf, " [%s] %*lld/%lld  %.0f img/s  loss %.4f",
                  progress_bar(done, total).c_str(), digits, static_cast<long long>(done),
                  static_cast<long long>(total), items_per_second(done, seconds), loss);
    return label + buf;
}

Progress::Progress(std::string label, int64_t total_items, std::FILE* out)
    : Progress(std::move(label), total_items, out, isatty(fileno(out)) != 0, Clock::now) {}

Progress::Progress(std::string label, int64_t total_items, std::FILE* out, bool terminal, Now now)
    : label_(std::move(label)),
      total_(total_items),
      out_(out),
      terminal_(terminal),
      now_(std::move(now)),
      start_(now_()) {}

Progress::~Progress() {
    if (terminal_ && drawn_ && !finished_) {
        std::fputc('\n', out_);
        std::fflush(out_);
    }
}

double Progress::seconds() const { return std::chrono::duration<double>(now_() - start_).count(); }

void Progress::draw(const std::string& line) {
    // Blank what is left of a longer previous line (no terminal escape codes needed).
    std::string padding(last_width_ > line.size() ? last_width_ - line.size() : 0, ' ');
    std::fprintf(out_, "\r%s%s", line.c_str(), padding.c_str());
    std::fflush(out_);
    last_width_ = line.size();
}

void Progress::update(int64_t items_done, double loss) {
    if (finished_) return;
    done_ = items_done;
    if (terminal_) {
        Clock::time_point now = now_();
        if (drawn_ && now - last_draw_ < redraw_interval) return;
        last_draw_ = now;
        drawn_ = true;
        draw(progress_line(label_, items_done, total_, seconds(), loss));
        return;
    }
    // Quarters reached so far, capped at 3: the 100% line belongs to finish().
    int64_t quarter = total_ > 0 ? std::clamp<int64_t>(items_done * 4 / total_, 0, 3) : 0;
    if (quarter <= quarters_shown_) return;
    quarters_shown_ = quarter;
    std::fprintf(out_, "%s\n", progress_line(label_, items_done, total_, seconds(), loss).c_str());
    std::fflush(out_);
}

void Progress::finish(double loss) {
    if (finished_) return;
    finished_ = true;
    double secs = seconds();
    char tail[48];
    std::snprintf(tail, sizeof tail, "  %.1f s", secs);
    std::string line = progress_line(label_, done_, total_, secs, loss) + tail;
    if (terminal_) {
        draw(line);
        std::fputc('\n', out_);
    } else {
        std::fprintf(out_, "%s\n", line.c_str());
    }
    std::fflush(out_);
}

}  // namespace cnnc::runtime
