// Progress: a one-line training progress display (bar, rate, loss) that keeps logs short.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace cnnc::runtime {

// Items per second; 0 when no time has passed yet (the first update comes before any clock tick).
double items_per_second(int64_t items, double seconds);

// A bar of `width` characters, '#' for the done fraction and '.' for the rest.
std::string progress_bar(int64_t done, int64_t total, int width = 30);

// One display line: label, bar, done/total, images per second, loss (no '\r' or '\n').
std::string progress_line(const std::string& label, int64_t done, int64_t total, double seconds,
                          double loss);

// On a terminal, redraws one line in place (at most every 100 ms). Otherwise (a log file, a pipe)
// prints a plain line at 25%, 50% and 75%, and finish() prints the last one: at most four lines
// per use however many updates come. The rate counts from construction.
class Progress {
public:
    using Clock = std::chrono::steady_clock;
    using Now = std::function<Clock::time_point()>;

    Progress(std::string label, int64_t total_items, std::FILE* out = stdout);
    // Chooses the mode and the clock explicitly: for tests, and for callers that want plain
    // lines on a terminal.
    Progress(std::string label, int64_t total_items, std::FILE* out, bool terminal, Now now);
    // Ends a line left half-drawn (e.g. by an exception) so later output starts on its own line.
    ~Progress();
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;

    void update(int64_t items_done, double loss);
    // Prints the final figures (with the elapsed time) and ends the line. Later calls do nothing.
    void finish(double loss);

private:
    double seconds() const;
    void draw(const std::string& line);

    std::string label_;
    int64_t total_;
    std::FILE* out_;
    bool terminal_;
    Now now_;
    Clock::time_point start_;
    Clock::time_point last_draw_{};
    bool drawn_ = false;
    bool finished_ = false;
    size_t last_width_ = 0;       // terminal: characters to blank when the next line is shorter
    int64_t quarters_shown_ = 0;  // plain output: 1..3 after the 25/50/75% lines
    int64_t done_ = 0;
};

}  // namespace cnnc::runtime
