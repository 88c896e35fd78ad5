// Activation statistics for the calibrated quantizers (gptq, importance-
// weighted mse): calibration text is tokenized and run through the model in
// windows; a MatmulObserver accumulates, for every weight matrix, the mean
// outer product of its inputs E[x x^T] (its diagonal is the importance vector,
// llama.cpp's imatrix), over every position, and the mean input E[x] (dabc's
// bias), over every position but each window's first. The calibration
// text must never be the evaluation text.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "core/thread_pool.h"
#include "model/model.h"
#include "quant/quant_method.h"

namespace tessera {

struct CalibrationOptions {
  int64_t n_ctx = 512;    // tokens per window
  int64_t windows = 4;    // windows used at most (the text may hold fewer)
};

struct CalibrationStats {
  std::map<std::string, QuantStats> by_tensor;  // by GGUF tensor name
  int64_t n_tokens = 0;
};

// Throws InvalidArgument for an empty file, one that is not UTF-8 text, or
// text shorter than 16 tokens.
std::string read_calibration_text(const std::string& path);

// Runs the windows; the token embedding / output matrix is not collected (the
// quantizers keep it on its own spec). progress(done, total) after each window.
CalibrationStats collect_calibration(Model& model, const std::string& text, const CalibrationOptions& options,
                                     ThreadPool& pool, const std::function<void(int64_t, int64_t)>& progress);

}  // namespace tessera
