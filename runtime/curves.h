// Training history: per-epoch figures written as CSV and as a self-contained SVG chart.
#pragma once

#include <string>
#include <vector>

namespace cnnc::runtime {

// One epoch's figures. Accuracies are fractions in [0, 1] (the chart shows percent); any field
// may be NaN when it was not measured (e.g. no validation set), and is then left out.
struct EpochRecord {
    int epoch = 0;  // as shown to the user, normally counting from 1
    double train_loss = 0, train_accuracy = 0;
    double validation_loss = 0, validation_accuracy = 0;
    double learning_rate = 0;
    double seconds = 0;  // wall time of the epoch
};

// The CSV text: a header line
//   epoch,train_loss,train_accuracy,validation_loss,validation_accuracy,learning_rate,seconds
// then one line per record, numbers with 9 significant digits, NaN as an empty field (what
// spreadsheets and pandas read as missing).
std::string csv_text(const std::vector<EpochRecord>& records);

// An SVG document of 960 x 400 pixels with two panels, loss (train and validation) and accuracy
// in percent (train and validation) against the epoch, each with axes, tick labels and a legend,
// under `title` (XML-escaped). Needs nothing outside the file: no scripts, fonts or styles.
// NaN values break a curve into separate pieces; a lone point is drawn as a dot, so a single
// epoch still shows; no records gives empty panels.
std::string svg_text(const std::vector<EpochRecord>& records, const std::string& title);

// Write the texts above to `path` through path + ".tmp", flushed to disk and renamed over
// `path`, so a reader (or a crash) never sees a half-written file. Throw DataError naming the
// path when the file cannot be written.
void write_csv(const std::string& path, const std::vector<EpochRecord>& records);
void write_svg(const std::string& path, const std::vector<EpochRecord>& records,
               const std::string& title);

}  // namespace cnnc::runtime
