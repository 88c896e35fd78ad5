// tessera quantize: one QuantMethod over a whole model (src/quant/model_quantizer.h),
// with a progress bar and a per-tensor error summary.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.h"
#include "cli/progress_bar.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "eval/calibration.h"
#include "quant/bit_allocation.h"
#include "quant/grid.h"
#include "quant/model_quantizer.h"

namespace tessera::cli {

namespace {

struct QuantizeCliOptions {
  std::string in, out;
  std::string method = "rtn";
  std::string type;       // empty: from --bits / --asym
  std::string embd_type;  // empty: Q8_0 for grid methods, --type for none
  int bits = 0;           // 0: the type's code bits
  int group = 0;          // 0: the type's block
  bool per_channel = false;  // layer matrices: one scale per row
  bool per_token = false;    // with per_channel: the file asks for per-token activation scales
  bool asym = false;
  int threads = default_thread_count();
  bool json = false;
  double avg_bits = 0.0;  // 0: no allocation
  std::string alloc = "alpha-high";  // the ablation's winner (docs/quantization.md)
  std::string alloc_types;           // with avg_bits: legacy (default) or k
  std::string calib;
  int64_t calib_windows = 4;
  int64_t rotate = 0;  // 0: no rotation
  bool no_bias = false;  // dabc / mdqfo: no output bias from the calibration mean
};

GgmlType parse_type(const std::string& name, const char* flag) {
  const auto t = type_from_name(name);
  if (!t) raise<InvalidArgument>("{}: unknown type '{}'", flag, name);
  return *t;
}

QuantSpec make_spec(GgmlType type, int bits, int group, bool asym_flag, bool float_method) {
  QuantSpec s;
  s.type = type;
  if (float_method) {
    s.bits = 16;
    s.group = 1;
    return s;
  }
  const auto layout = grid_layout(type);
  if (!layout) {
    raise<InvalidArgument>("type {} is not written by the grid methods (use Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K or the Q4_K_M mix)",
                           type_name(type));
  }
  if (asym_flag && !layout->offset) {
    raise<InvalidArgument>("--asym asks for an offset, which {} does not store (use Q4_1, Q5_1, Q2_K, Q4_K or Q5_K)",
                           type_name(type));
  }
  s.bits = bits > 0 ? bits : layout->code_bits;
  s.group = group > 0 ? group : layout->sub_block;
  s.symmetric = !layout->offset;
  return s;
}

void print_summary(const ModelQuantReport& r) {
  std::printf("%-28s %-14s %-6s %-6s %4s %6s %10s %10s\n", "tensor", "shape", "from", "to", "bits", "alpha", "bytes",
              "rel.rmse");
  for (const TensorReport& t : r.tensors) {
    if (!t.quantized) continue;
    std::string shape = std::to_string(t.shape[0]) + "x" + std::to_string(t.shape[1]);
    std::printf("%-28s %-14s %-6s %-6s %4d %6.2f %10llu %10.5f%s\n", t.name.c_str(), shape.c_str(),
                type_name(t.source_type), type_name(t.type), t.bits, t.alpha, static_cast<unsigned long long>(t.bytes),
                t.rel_rmse,
                t.fell_back ? "  (fallback: row length)" : "");
  }
  size_t copied = 0;
  for (const TensorReport& t : r.tensors) copied += t.quantized ? 0 : 1;
  std::printf("%zu matrices quantized, %zu tensors copied; matrices %.3f bits/weight, all tensors %.3f bits/weight; "
              "file %.2f MiB\n",
              r.tensors.size() - copied, copied, r.matrix_bits_per_weight(), r.bits_per_weight(),
              static_cast<double>(r.file_bytes) / (1024.0 * 1024.0));
}

nlohmann::json to_json(const ModelQuantReport& r, const std::string& out) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const TensorReport& t : r.tensors) {
    tensors.push_back({{"name", t.name},
                       {"shape", t.shape},
                       {"source_type", type_name(t.source_type)},
                       {"type", type_name(t.type)},
                       {"quantized", t.quantized},
                       {"fallback", t.fell_back},
                       {"bytes", t.bytes},
                       {"rel_rmse", t.rel_rmse},
                       {"bits", t.bits},
                       {"alpha", t.alpha},
                       {"method", t.method}});
  }
  return {{"output", out},
          {"file_bytes", r.file_bytes},
          {"bits_per_weight", r.bits_per_weight()},
          {"matrix_bits_per_weight", r.matrix_bits_per_weight()},
          {"tensors", tensors}};
}

void run_quantize(const QuantizeCliOptions& o) {
  const bool float_method = o.method == "none";
  ModelQuantOptions m;
  m.method = o.method;
  m.threads = o.threads;
  if (o.threads <= 0) raise<InvalidArgument>("-t/--threads must be positive, got {}", o.threads);
  if (o.no_bias) {
    if (float_method || !make_quant_method(o.method)->writes_output_bias()) {
      std::vector<std::string> with_bias;
      for (const std::string& name : quant_method_names()) {
        if (make_quant_method(name)->writes_output_bias()) with_bias.push_back(name);
      }
      raise<InvalidArgument>("--no-bias applies to {} (the methods that write an output bias), not {}",
                             fmt::join(with_bias, " and "), o.method);
    }
    if (o.calib.empty()) {
      raise<InvalidArgument>("--no-bias: {} writes a bias only with --calib, so there is none to leave out", o.method);
    }
  }
  if (o.per_channel) {
    if (float_method) raise<InvalidArgument>("--per-channel needs a quantizing method");
    if (o.group != 0) raise<InvalidArgument>("--per-channel is the group of a whole row: drop --group");
    if (o.avg_bits != 0.0 || type_mix_from_name(o.type)) {
      raise<InvalidArgument>("--per-channel takes one type for every layer matrix: not with --avg-bits or a mix");
    }
  }
  if (o.per_token && !o.per_channel) {
    raise<InvalidArgument>("--per-token-activations needs --per-channel (one weight scale per row)");
  }
  if (float_method) {
    if (o.type.empty()) raise<InvalidArgument>("--method none needs --type F16, BF16 or F32");
    if (o.bits != 0 || o.group != 0 || o.asym) raise<InvalidArgument>("--method none takes no --bits, --group or --asym");
  }
  const std::optional<TypeMix> mix = type_mix_from_name(o.type);
  if (mix) {
    if (float_method) raise<InvalidArgument>("--method none writes float types, not the {} mix", o.type);
    if (o.bits != 0 || o.group != 0 || o.asym) {
      raise<InvalidArgument>("--type {} fixes each matrix's type and grid: drop --bits, --group and --asym", o.type);
    }
    m.mix = *mix;
    m.spec = TypeMixPlan::base_spec(*mix);
  } else {
    const GgmlType type =
        !o.type.empty() ? parse_type(o.type, "--type") : spec_for_bits(o.bits > 0 ? o.bits : 4, o.asym).type;
    m.spec = make_spec(type, o.bits, o.group, o.asym, float_method);
  }
  if (o.per_token && m.spec.type != GgmlType::Q4_0 && m.spec.type != GgmlType::Q8_0) {
    raise<InvalidArgument>("--per-token-activations: the row-scaled integer kernels take Q4_0 or Q8_0, not {}",
                           type_name(m.spec.type));
  }
  // The embedding table doubles as the output layer in tied models, the most
  // sensitive matrix: Q8_0 unless asked otherwise (llama.cpp keeps it at 6-8
  // bits too; a mix has its own rule for it).
  if (!o.embd_type.empty()) {
    const GgmlType et = parse_type(o.embd_type, "--embd-type");
    m.embd_spec = make_spec(et, 0, 0, grid_layout(et) && grid_layout(et)->offset, float_method);
  } else if (!float_method && !mix) {
    m.embd_spec = make_spec(GgmlType::Q8_0, 0, 0, false, false);
  }
  if (o.avg_bits != 0.0) {
    if (float_method) raise<InvalidArgument>("--avg-bits needs a grid method (rtn, mse)");
    if (!o.type.empty() || o.bits != 0 || o.group != 0) {
      raise<InvalidArgument>("--avg-bits chooses each matrix's bits and type: drop --type, --bits and --group");
    }
    if (!(o.avg_bits >= 2.0 && o.avg_bits <= 8.0)) raise<InvalidArgument>("--avg-bits must be 2 to 8, got {}", o.avg_bits);
    m.avg_bits = o.avg_bits;
    m.order = parse_allocation_order(o.alloc);
    if (o.alloc_types == "k") {
      if (o.asym) raise<InvalidArgument>("--alloc-types k: each K type fixes its offset; drop --asym");
      m.k_types = true;
    } else if (!o.alloc_types.empty() && o.alloc_types != "legacy") {
      raise<InvalidArgument>("--alloc-types must be legacy or k, got '{}'", o.alloc_types);
    }
    m.asym = o.asym;
  }
  if (o.avg_bits == 0.0 && !o.alloc_types.empty()) raise<InvalidArgument>("--alloc-types applies to --avg-bits");
  m.rotation_block = o.rotate;
  m.per_channel = o.per_channel;
  m.per_token_activations = o.per_token;
  // Calibration statistics: the text runs through the source model itself.
  CalibrationStats calibration;
  if (!o.calib.empty()) {
    if (float_method) raise<InvalidArgument>("--calib needs a quantizing method");
    if (o.calib_windows < 1) raise<InvalidArgument>("--calib-windows must be positive, got {}", o.calib_windows);
    make_quant_method(o.method);  // an unknown method fails before the model is read
    const std::string text = read_calibration_text(o.calib);
    auto model = Model::load(o.in);
    ThreadPool pool(o.threads);
    std::optional<ProgressBar> calib_bar;
    CalibrationOptions co;
    co.windows = o.calib_windows;
    calibration = collect_calibration(*model, text, co, pool, [&](int64_t done, int64_t total) {
      if (!calib_bar) calib_bar.emplace(total, "calibration windows");
      calib_bar->update(done, "input statistics");
    });
    if (o.no_bias) {
      // The bias is the quantization error times the mean input; without the
      // mean the method keeps its grids and masks and writes no bias.
      for (auto& [name, stats] : calibration.by_tensor) stats.mean.clear();
    }
    m.stats = &calibration.by_tensor;
  }
  std::optional<ProgressBar> bar;
  const ModelQuantReport r = quantize_model(o.in, o.out, m, [&](size_t done, size_t total, const std::string& name) {
    if (!bar) bar.emplace(static_cast<int64_t>(total), "tensors");
    bar->update(static_cast<int64_t>(done), name);
  });
  if (o.json) {
    std::printf("%s\n", to_json(r, o.out).dump(2).c_str());
  } else {
    print_summary(r);
  }
}

}  // namespace

void register_quantize(CLI::App& app) {
  auto o = std::make_shared<QuantizeCliOptions>();
  CLI::App* cmd = app.add_subcommand("quantize", "Quantize a GGUF model's weight matrices with a PTQ method");
  cmd->add_option("input", o->in, "source GGUF (any type tessera reads; quantized sources are dequantized first)")
      ->required();
  cmd->add_option("output", o->out, "GGUF to write (written to OUTPUT.tmp, renamed at the end)")->required();
  cmd->add_option("--method", o->method, "none, rtn, mse, gptq, dabc, mdqfo, awq (default rtn)");
  cmd->add_option("--type", o->type, "storage type: Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K, or the mix Q4_K_M (llama.cpp's: Q4_K, "
                  "Q6_K for the output and some attn_v / ffn_down); none: F16 BF16 F32");
  cmd->add_option("--bits", o->bits, "grid bits, 2-8 (default: the type's; without --type: 4)");
  cmd->add_option("--group", o->group, "weights sharing a scale: a multiple of the type's block (default: the block)");
  cmd->add_flag("--asym", o->asym, "scale and offset per group (Q4_1 / Q5_1 when picked by --bits)");
  cmd->add_flag("--per-channel", o->per_channel,
                "one scale per output row of every layer matrix (the group is the whole row), stored in the type's "
                "blocks with equal scales: per-channel weights for integer kernels (docs/quantization.md)");
  cmd->add_flag("--per-token-activations", o->per_token,
                "with --per-channel (Q4_0 or Q8_0): the file asks for 8-bit activations with one scale per token, "
                "and tessera runs its layer matrices on integer kernels that scale each row once (W4A8 / W8A8; "
                "llama.cpp ignores the key)");
  cmd->add_option("--embd-type", o->embd_type, "type of token_embd / output.weight (default Q8_0; with Q4_K_M: the mix's)");
  cmd->add_option("-t,--threads", o->threads, "threads (default: all cores)");
  cmd->add_option("--avg-bits", o->avg_bits,
                  "alphaq: per-matrix bits (floor or +1, by the spectrum's alpha) averaging this (2-8)");
  cmd->add_option("--alloc", o->alloc, "with --avg-bits: alpha-high (default: more bits to high alpha), alpha-low, uniform");
  cmd->add_option("--alloc-types", o->alloc_types,
                  "with --avg-bits: legacy (default: Q4_0/Q5_0/Q8_0, fewer than 4 bits emulated in Q4_0) or k "
                  "(Q2_K ... Q6_K: each bit count at its own size; rows not a multiple of 256 keep the legacy type)");
  cmd->add_option("--calib", o->calib,
                  "calibration text (never the evaluation text): activation statistics for gptq, awq, mse, dabc");
  cmd->add_option("--calib-windows", o->calib_windows, "windows of 512 calibration tokens (default 4)");
  cmd->add_option("--rotate", o->rotate,
                  "store every layer matrix Hadamard-rotated in blocks of B inputs (a power of two dividing every "
                  "layer matrix's rows; the engine rotates the inputs to match): spreads loud activation channels "
                  "for 4-bit activations (QuaRot); tessera-only files");
  cmd->add_flag("--no-bias", o->no_bias,
                "dabc / mdqfo with --calib: keep the calibrated grids and outlier masks but write no output bias "
                "(measured better on the default model: docs/quantization.md)");
  cmd->add_flag("--json", o->json, "print the report as JSON");
  cmd->callback([o] { run_quantize(*o); });
}

}  // namespace tessera::cli
