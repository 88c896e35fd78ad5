#include "quant/model_quantizer.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <memory>

#include "core/error.h"
#include "core/thread_pool.h"
#include "quant/dequantize.h"
#include "quant/grid.h"
#include "quant/hadamard.h"
#include "quant/spectrum.h"

namespace tessera {

namespace {

bool fits(const QuantSpec& spec, int64_t cols) {
  return cols % type_traits(spec.type).block_size == 0 && cols % spec.group == 0;
}

bool is_embedding_or_output(const std::string& name) {
  return name == "token_embd.weight" || name == "output.weight";
}

// llama.cpp's general.file_type numbers (LLAMA_FTYPE_*) for a uniform type.
std::optional<uint32_t> file_type_of(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return 0;
    case GgmlType::F16: return 1;
    case GgmlType::Q4_0: return 2;
    case GgmlType::Q4_1: return 3;
    case GgmlType::Q8_0: return 7;
    case GgmlType::Q5_0: return 8;
    case GgmlType::Q5_1: return 9;
    case GgmlType::Q2_K: return 10;
    case GgmlType::Q3_K: return 11;  // Q3_K_S: Q3_K throughout
    case GgmlType::Q4_K: return 14;  // Q4_K_S: Q4_K throughout
    case GgmlType::Q5_K: return 16;  // Q5_K_S
    case GgmlType::Q6_K: return 18;
    case GgmlType::BF16: return 32;
    default: return std::nullopt;
  }
}

void check_output_path(const std::string& in, const std::string& out) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(out, ec) && fs::equivalent(in, out, ec)) {
    raise<InvalidArgument>("{}: the output must not be the input file", out);
  }
  if (fs::is_directory(out, ec)) raise<InvalidArgument>("{}: is a directory", out);
  const fs::path parent = fs::path(out).parent_path().empty() ? fs::path(".") : fs::path(out).parent_path();
  if (!fs::is_directory(parent, ec)) raise<InvalidArgument>("{}: directory {} does not exist", out, parent.string());
  if (::access(parent.c_str(), W_OK) != 0) raise<InvalidArgument>("{}: directory {} is not writable", out, parent.string());
}

void dequantize_matrix(const GgufTensorInfo& t, std::vector<float>& w) {
  const int64_t cols = t.shape[0], rows = t.n_elements() / cols, rb = row_bytes(t.type, cols);
  w.resize(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) dequantize_row(t.type, t.data + r * rb, w.data() + r * cols, cols);
}

// Grid bits per tensor (0 = not allocated: vectors, embeddings); fills alphas.
std::vector<int> allocate_by_alpha(const GgufFile& src, const ModelQuantOptions& options, std::vector<double>& alphas,
                                   ThreadPool& pool) {
  std::vector<size_t> index;
  for (size_t i = 0; i < src.tensors().size(); ++i) {
    const GgufTensorInfo& t = src.tensors()[i];
    if (is_quantizable_matrix(t) && !is_embedding_or_output(t.name)) index.push_back(i);
  }
  // Spectra are independent: one matrix per task.
  pool.parallel_for(static_cast<int64_t>(index.size()), 1, [&](int64_t begin, int64_t end) {
    std::vector<float> w;
    for (int64_t k = begin; k < end; ++k) {
      const GgufTensorInfo& t = src.tensors()[index[k]];
      dequantize_matrix(t, w);
      const MatrixRef m{w.data(), t.n_elements() / t.shape[0], t.shape[0]};
      alphas[index[k]] = fit_power_law(gram_eigenvalues(m)).alpha;
    }
  });
  std::vector<AllocationItem> items;
  for (size_t i : index) items.push_back({src.tensors()[i].n_elements(), alphas[i]});
  const std::vector<int> bits = allocate_bits(items, *options.avg_bits, options.order);
  std::vector<int> out(src.tensors().size(), 0);
  for (size_t k = 0; k < index.size(); ++k) out[index[k]] = bits[k];
  return out;
}

// awq's input scales s, by tensor name. `columns`: the readers of a rescaled
// input, quantized as W diag(s), and the norm vectors producing one, divided
// by s. `rows`: matrices whose output rows are divided by s because their
// output is (elementwise, through the gated activation) a rescaled input.
struct InputScales {
  std::map<std::string, std::vector<float>> columns;
  std::map<std::string, std::vector<float>> rows;
};

// Importance of an attention output's channels with each KV head's group of
// query heads averaged, so awq's s (a function of importance) is the same on
// channels that one V row feeds. tie = query heads per KV head.
QuantStats tied_over_heads(const QuantStats& stats, int64_t head_dim, int64_t tie) {
  QuantStats out = stats;
  const int64_t n = static_cast<int64_t>(stats.importance.size());
  for (int64_t c = 0; c < n; ++c) {
    const int64_t first = (c / head_dim) / tie * tie * head_dim + c % head_dim;
    double sum = 0.0;
    for (int64_t h = 0; h < tie; ++h) sum += stats.importance[first + h * head_dim];
    out.importance[c] = static_cast<float>(sum / static_cast<double>(tie));
  }
  return out;
}

// For each norm whose output is read only by the matrices listed (q/k/v,
// gate/up); for ffn_down, whose input act(gate) * up scales with ffn_up's
// rows; and for attn_output, whose input is the attention's weighted sum of
// V rows (each V row feeding one channel of every query head of its KV
// group), the scale the method chose for that input. Groups that do not
// qualify (a reader missing or without statistics, a norm that is not an F32
// vector of the readers' width, a producer matrix with a bias, head counts
// that do not fit the shapes) are left unscaled.
InputScales choose_input_scales(const GgufFile& src, const QuantMethod& method,
                                const std::vector<std::optional<QuantSpec>>& specs,
                                const std::map<std::string, QuantStats>& stats, ThreadPool& pool) {
  struct Group {
    const char* producer;  // a norm vector, or (producer_rows) a matrix whose rows make the input
    bool producer_rows;
    bool heads;  // the producer's rows are KV-head channels, the readers' columns query-head channels
    std::vector<const char*> readers;
  };
  const Group groups[] = {{"attn_norm", false, false, {"attn_q", "attn_k", "attn_v"}},
                          {"ffn_norm", false, false, {"ffn_gate", "ffn_up"}},
                          {"ffn_up", true, false, {"ffn_down"}},
                          {"attn_v", true, true, {"attn_output"}}};
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < src.tensors().size(); ++i) index[src.tensors()[i].name] = i;
  const std::string arch = src.get_string_opt("general.architecture").value_or("");
  const auto n_head = src.get_u64_opt(arch + ".attention.head_count");
  const auto n_head_kv = src.get_u64_opt(arch + ".attention.head_count_kv").value_or(n_head.value_or(0));
  InputScales out;
  for (int64_t layer = 0;; ++layer) {
    const std::string prefix = "blk." + std::to_string(layer) + ".";
    if (index.count(prefix + "attn_norm.weight") == 0 && index.count(prefix + "ffn_norm.weight") == 0) break;
    for (const Group& g : groups) {
      const auto producer = index.find(prefix + g.producer + ".weight");
      if (producer == index.end()) continue;
      const GgufTensorInfo& pt = src.tensors()[producer->second];
      // The width of the input the readers see: a norm's length, a matrix's
      // rows (times the query heads per KV head for attention outputs).
      int64_t width = g.producer_rows && pt.shape.size() == 2 ? pt.shape[1] : pt.shape[0];
      int64_t head_dim = 0, tie = 1;
      bool ok = g.producer_rows ? specs[producer->second].has_value() && index.count(prefix + g.producer + ".bias") == 0
                                : pt.type == GgmlType::F32 && pt.shape.size() == 1;
      if (g.heads) {
        ok = ok && n_head && n_head_kv > 0 && *n_head % n_head_kv == 0 && width % static_cast<int64_t>(n_head_kv) == 0;
        if (!ok) continue;
        head_dim = width / static_cast<int64_t>(n_head_kv);
        tie = static_cast<int64_t>(*n_head / n_head_kv);
        width *= tie;
      }
      std::vector<std::vector<float>> dense;
      std::vector<MatrixRef> readers;
      std::vector<QuantSpec> reader_specs;
      const QuantStats* input = nullptr;
      for (const char* r : g.readers) {
        const std::string name = prefix + r + ".weight";
        const auto it = index.find(name);
        const auto st = stats.find(name);
        ok = ok && it != index.end() && specs[it->second] && st != stats.end() &&
             src.tensors()[it->second].shape[0] == width &&
             (input == nullptr || input->hessian == st->second.hessian);
        if (!ok) break;
        input = &st->second;
        const GgufTensorInfo& t = src.tensors()[it->second];
        dense.emplace_back();
        dequantize_matrix(t, dense.back());
        readers.push_back(MatrixRef{dense.back().data(), t.n_elements() / t.shape[0], t.shape[0]});
        reader_specs.push_back(*specs[it->second]);
      }
      if (!ok) continue;
      const QuantStats tied = g.heads ? tied_over_heads(*input, head_dim, tie) : QuantStats{};
      std::vector<float> s = method.input_scale(readers, reader_specs, g.heads ? tied : *input, pool);
      if (s.empty()) continue;
      for (const char* r : g.readers) out.columns[prefix + r + ".weight"] = s;
      if (g.heads) {
        // V row k*head_dim + j feeds channel j of query heads k*tie .. k*tie + tie - 1 (equal scales).
        std::vector<float> per_row(static_cast<size_t>(width / tie));
        for (size_t r = 0; r < per_row.size(); ++r) {
          per_row[r] = s[(r / head_dim) * tie * head_dim + r % head_dim];
        }
        s = std::move(per_row);
      }
      (g.producer_rows ? out.rows : out.columns)[pt.name] = std::move(s);
    }
  }
  return out;
}

// Statistics of the input x / s that a column-scaled matrix reads.
QuantStats scaled_stats(const QuantStats& stats, const std::vector<float>& s) {
  QuantStats out;
  if (!stats.importance.empty()) {
    out.importance.resize(s.size());
    for (size_t j = 0; j < s.size(); ++j) out.importance[j] = stats.importance[j] / (s[j] * s[j]);
  }
  if (!stats.mean.empty()) {
    out.mean.resize(s.size());
    for (size_t j = 0; j < s.size(); ++j) out.mean[j] = stats.mean[j] / s[j];
  }
  return out;  // no Hessian: the methods that rescale inputs do not read one
}

// Statistics of the input H diag(1/s) x that a rotated (and, with s, awq-
// scaled) matrix reads, from those of x. The calibration pass keeps E[x x^T],
// whose rotation gives the exact importance diag(H S Σ S H) and the GPTQ
// Hessian; without it the importance is the block average of the scaled one
// (exact for a diagonal Σ). Consecutive readers of one input (q/k/v,
// gate/up) share the rotated Hessian, so a GPTQ factor is computed once.
class RotatedStats {
 public:
  explicit RotatedStats(int64_t block) : block_(block) {}

  QuantStats of(const QuantStats& stats, const std::vector<float>* s, ThreadPool& pool) {
    const int64_t n = static_cast<int64_t>(!stats.importance.empty() ? stats.importance.size() : stats.mean.size());
    auto inv = [&](int64_t j) { return s != nullptr ? 1.0f / (*s)[j] : 1.0f; };
    QuantStats out;
    if (!stats.mean.empty()) {
      out.mean.resize(stats.mean.size());
      for (int64_t j = 0; j < n; ++j) out.mean[j] = stats.mean[j] * inv(j);
      hadamard_rotate(out.mean.data(), n, block_);
    }
    if (stats.hessian && stats.hessian->size() == static_cast<size_t>(n * n)) {
      if (stats.hessian != source_ || (s != nullptr ? *s : std::vector<float>{}) != scale_) {
        source_ = stats.hessian;
        scale_ = s != nullptr ? *s : std::vector<float>{};
        rotated_ = rotate_both_sides(*stats.hessian, n, inv, pool);
      }
      out.hessian = rotated_;
      out.importance.resize(static_cast<size_t>(n));
      for (int64_t j = 0; j < n; ++j) out.importance[j] = (*rotated_)[j * n + j];
    } else if (!stats.importance.empty()) {
      out.importance.resize(static_cast<size_t>(n));
      for (int64_t b = 0; b < n; b += block_) {
        double sum = 0.0;
        for (int64_t j = b; j < b + block_; ++j) sum += stats.importance[j] * inv(j) * inv(j);
        for (int64_t j = b; j < b + block_; ++j) out.importance[j] = static_cast<float>(sum / block_);
      }
    }
    return out;
  }

 private:
  // H D Σ D H for symmetric Σ (n x n): rotate the rows of D Σ D (giving
  // D Σ D H), transpose (H D Σ D), rotate the rows again.
  template <typename Inv>
  std::shared_ptr<const std::vector<float>> rotate_both_sides(const std::vector<float>& h, int64_t n, Inv inv,
                                                              ThreadPool& pool) const {
    std::vector<float> a(static_cast<size_t>(n * n)), t(static_cast<size_t>(n * n));
    pool.parallel_for(n, 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        for (int64_t j = 0; j < n; ++j) a[i * n + j] = h[i * n + j] * inv(i) * inv(j);
        hadamard_rotate(a.data() + i * n, n, block_);
      }
    });
    pool.parallel_for(n, 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        for (int64_t j = 0; j < n; ++j) t[i * n + j] = a[j * n + i];
        hadamard_rotate(t.data() + i * n, n, block_);
      }
    });
    return std::make_shared<const std::vector<float>>(std::move(t));
  }

  int64_t block_;
  std::shared_ptr<const std::vector<float>> source_, rotated_;
  std::vector<float> scale_;
};

}  // namespace

std::optional<QuantSpec> fallback_spec(const QuantSpec& spec, int64_t cols) {
  if (fits(spec, cols)) return spec;
  QuantSpec f = spec;
  switch (spec.type) {
    case GgmlType::Q4_K: f = QuantSpec{GgmlType::Q5_0, 5, 32, true}; break;
    case GgmlType::Q5_K: f = QuantSpec{GgmlType::Q5_1, 5, 32, false}; break;
    case GgmlType::Q6_K: f = QuantSpec{GgmlType::Q8_0, 8, 32, true}; break;
    // llama.cpp falls back to IQ4_NL, which tessera does not write: the legacy
    // 4-bit container with the same grid (Q3_K's 3-bit codes emulated in Q4_0,
    // Q2_K's asymmetric 2-bit ones in Q4_1).
    case GgmlType::Q3_K: f = QuantSpec{GgmlType::Q4_0, spec.bits, 32, true}; break;
    case GgmlType::Q2_K: f = QuantSpec{GgmlType::Q4_1, spec.bits, 32, false}; break;
    default: return std::nullopt;
  }
  if (!fits(f, cols)) return std::nullopt;
  return f;
}

bool is_quantizable_matrix(const GgufTensorInfo& t) {
  const std::string& n = t.name;
  const bool weight = n.size() > 7 && n.compare(n.size() - 7, 7, ".weight") == 0;
  return t.shape.size() == 2 && weight && n.find("norm") == std::string::npos && t.shape[1] > 1;
}

ModelQuantReport quantize_model(const std::string& in, const std::string& out, const ModelQuantOptions& options,
                                const std::function<void(size_t, size_t, const std::string&)>& progress) {
  if (options.threads <= 0) raise<InvalidArgument>("--threads must be positive, got {}", options.threads);
  const auto method = make_quant_method(options.method);
  method->check(options.spec);
  if (options.embd_spec) method->check(*options.embd_spec);
  check_output_path(in, out);
  if (method->needs_calibration() && options.stats == nullptr) {
    raise<InvalidArgument>("method {} needs calibration text (--calib FILE)", method->name());
  }
  const auto uncalibrated = make_quant_method("mse");

  const GgufFile src(in);
  for (const auto& t : src.tensors()) {
    // A dabc output's matrices mean W' + bias: re-encoding W' alone (and
    // copying the stale bias) would silently change the model.
    if (t.name.size() > 6 && t.name.compare(t.name.size() - 6, 6, ".qbias") == 0) {
      raise<InvalidArgument>("{}: tensor '{}' is a quantization bias (dabc output); quantize the original model instead",
                             in, t.name);
    }
    if (is_quantizable_matrix(t) && !type_traits(t.type).weight_type) {
      raise<FormatError>("{}: tensor '{}' has type {}, which is not a weight type tessera can read",
                         in, t.name, type_name(t.type));
    }
  }
  ThreadPool pool(options.threads);
  // alphaq: per-matrix grid bits from the spectra, before anything else.
  std::vector<QuantSpec> wanted_specs(src.tensors().size(), options.spec);
  std::vector<double> alphas(src.tensors().size(), 0.0);
  if (options.mix != TypeMix::Uniform) {
    if (options.avg_bits) raise<InvalidArgument>("--avg-bits and the {} mix both choose each matrix's type",
                                                 type_mix_name(options.mix));
    const TypeMixPlan plan(options.mix, src);
    for (size_t i = 0; i < wanted_specs.size(); ++i) {
      if (is_quantizable_matrix(src.tensors()[i])) wanted_specs[i] = *plan.spec_for(src.tensors()[i].name);
    }
  }
  if (options.avg_bits) {
    const auto allocated = allocate_by_alpha(src, options, alphas, pool);
    for (size_t i = 0; i < allocated.size(); ++i) {
      if (allocated[i] == 0) continue;
      // A row the K type cannot hold keeps its allocated bits in the legacy
      // container (the usual K fallbacks would add a bit: Q4_K -> Q5_0).
      const QuantSpec k = k_spec_for_bits(allocated[i]);
      wanted_specs[i] = options.k_types && fits(k, src.tensors()[i].shape[0]) ? k
                                                                              : spec_for_bits(allocated[i], options.asym);
    }
  }
  if (options.per_token_activations && !options.per_channel) {
    raise<InvalidArgument>("per-token activation scales need one weight scale per row (per_channel)");
  }
  // Every matrix's storage is settled before any work, so impossible requests fail at once.
  std::vector<std::optional<QuantSpec>> specs(src.tensors().size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const GgufTensorInfo& t = src.tensors()[i];
    if (!is_quantizable_matrix(t)) continue;
    if (options.per_channel && !is_embedding_or_output(t.name)) wanted_specs[i].group = t.shape[0];
    const QuantSpec& wanted =
        is_embedding_or_output(t.name) && options.embd_spec ? *options.embd_spec : wanted_specs[i];
    method->check(wanted);
    specs[i] = fallback_spec(wanted, t.shape[0]);
    if (!specs[i]) {
      raise<InvalidArgument>("tensor '{}': {} with group {} does not divide its rows of {} weights, and no fallback "
                             "type fits", t.name, type_name(wanted.type), wanted.group, t.shape[0]);
    }
  }
  const int64_t block = options.rotation_block;
  const bool source_rotated = src.get_u64_opt("tessera.rotation.block_size").has_value();
  if (source_rotated && method->scales_inputs()) {
    // Its folds scale a norm's or a producer's output, which the engine
    // rotates before the readers see it: diag(1/s) would not commute with H.
    raise<InvalidArgument>("{}: method {} cannot re-quantize a rotated model (tessera.rotation.block_size); "
                           "quantize the original model with --rotate instead", in, method->name());
  }
  if (block != 0) {
    if (!is_rotation_block(block, block)) {
      raise<InvalidArgument>("--rotate {}: must be a power of two (2 or more) dividing every layer matrix's rows",
                             block);
    }
    if (source_rotated) {
      raise<InvalidArgument>("{}: the model is already rotated (tessera.rotation.block_size); quantize it without "
                             "--rotate, or rotate the original model", in);
    }
    for (size_t i = 0; i < specs.size(); ++i) {
      const GgufTensorInfo& t = src.tensors()[i];
      if (specs[i] && !is_embedding_or_output(t.name) && !is_rotation_block(block, t.shape[0])) {
        raise<InvalidArgument>("--rotate {}: must be a power of two (2 or more) dividing every layer matrix's rows; "
                               "tensor '{}' has rows of {}", block, t.name, t.shape[0]);
      }
    }
  }
  RotatedStats rotated_stats(block);  // used only when block != 0
  InputScales input_scales;
  if (method->scales_inputs() && options.stats != nullptr) {
    input_scales = choose_input_scales(src, *method, specs, *options.stats, pool);
  }
  GgufWriter writer(src.alignment());
  for (const auto& [key, value] : src.metadata()) {
    // The activation scales belong to the new file's grids, not the source's.
    if (key != "general.alignment" && key != kActivationScalesKey) writer.set(key, value);
  }
  if (options.mix == TypeMix::Q4_K_M) {
    writer.set_u32("general.file_type", 15);  // LLAMA_FTYPE_MOSTLY_Q4_K_M
    writer.set_string("tessera.quantize.type", std::string(type_mix_name(options.mix)));
  } else {
    if (const auto ft = file_type_of(options.spec.type)) writer.set_u32("general.file_type", *ft);
    writer.set_string("tessera.quantize.type", type_name(options.spec.type));
  }
  writer.set_string("tessera.quantize.method", std::string(method->name()));
  writer.set_u32("tessera.quantize.bits", static_cast<uint32_t>(options.spec.bits));
  writer.set_u32("tessera.quantize.group", static_cast<uint32_t>(options.spec.group));
  if (block != 0) writer.set_u32("tessera.rotation.block_size", static_cast<uint32_t>(block));
  if (options.per_token_activations) writer.set_string(kActivationScalesKey, "token");

  ModelQuantReport report;
  std::vector<float> w;
  std::vector<float> back;
  const size_t total = src.tensors().size();
  for (size_t i = 0; i < total; ++i) {
    const GgufTensorInfo& t = src.tensors()[i];
    TensorReport tr;
    tr.name = t.name;
    tr.shape = t.shape;
    tr.source_type = t.type;
    const int64_t n = t.n_elements();
    const auto scale = input_scales.columns.find(t.name);
    const std::vector<float>* s = scale != input_scales.columns.end() ? &scale->second : nullptr;
    const auto row_scale = input_scales.rows.find(t.name);
    const std::vector<float>* s_rows = row_scale != input_scales.rows.end() ? &row_scale->second : nullptr;
    if (!is_quantizable_matrix(t) && s != nullptr) {
      // The norm producing a rescaled input: g / s, so its readers see x / s.
      std::vector<float> g(static_cast<size_t>(n));
      const float* src_g = reinterpret_cast<const float*>(t.data);
      for (int64_t j = 0; j < n; ++j) g[j] = src_g[j] / (*s)[j];
      writer.add_tensor(t.name, t.shape, t.type, g.data(), g.size() * sizeof(float));
      tr.type = t.type;
      tr.bytes = t.n_bytes;
    } else if (!is_quantizable_matrix(t)) {
      writer.add_tensor(t.name, t.shape, t.type, t.data, t.n_bytes);
      tr.type = t.type;
      tr.bytes = t.n_bytes;
    } else {
      const int64_t cols = t.shape[0], rows = n / cols;
      const QuantSpec* spec = &*specs[i];
      w.resize(static_cast<size_t>(n));
      pool.parallel_for(rows, 64, [&](int64_t begin, int64_t end) {
        const int64_t rb = row_bytes(t.type, cols);
        for (int64_t r = begin; r < end; ++r) dequantize_row(t.type, t.data + r * rb, w.data() + r * cols, cols);
      });
      const QuantStats* stats = nullptr;
      if (options.stats != nullptr) {
        const auto it = options.stats->find(t.name);
        if (it != options.stats->end()) stats = &it->second;
      }
      QuantStats rescaled;
      const bool rotate = block != 0 && !is_embedding_or_output(t.name);
      if (s != nullptr) {  // awq: W diag(s), for the input x / s
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t j = 0; j < cols; ++j) w[r * cols + j] *= (*s)[j];
        }
        if (!rotate) {
          rescaled = scaled_stats(stats != nullptr ? *stats : QuantStats{}, *s);
          stats = &rescaled;
        }
      }
      if (rotate) {  // W diag(s) H, for the input H diag(1/s) x
        pool.parallel_for(rows, 16, [&](int64_t begin, int64_t end) {
          for (int64_t r = begin; r < end; ++r) hadamard_rotate(w.data() + r * cols, cols, block);
        });
        if (stats != nullptr) {
          rescaled = rotated_stats.of(*stats, s, pool);
          stats = &rescaled;
        }
      }
      if (s_rows != nullptr) {  // awq: rows of a matrix whose output its reader sees divided by s
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t j = 0; j < cols; ++j) w[r * cols + j] /= (*s_rows)[r];
        }
      }
      const QuantMethod& used = stats == nullptr && method->needs_calibration() ? *uncalibrated : *method;
      const QuantizedMatrix q =
          used.quantize(MatrixRef{w.data(), rows, cols}, *spec, stats ? *stats : QuantStats{}, pool);
      tr.method = used.name();
      writer.add_tensor(t.name, t.shape, q.type, q.data.data(), q.data.size());
      const std::string stem = t.name.substr(0, t.name.size() - 7);
      for (const ExtraTensor& e : q.extras) {
        writer.add_tensor(stem + "." + e.suffix, e.shape, GgmlType::F32, e.values.data(), e.values.size() * 4);
        report.total_bytes += e.values.size() * 4;
        report.quantized_bytes += e.values.size() * 4;
      }
      // Error of what the file holds, read back through the ggml-exact dequantizer.
      back.resize(static_cast<size_t>(n));
      const int64_t qrb = row_bytes(q.type, cols);
      pool.parallel_for(rows, 64, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) dequantize_row(q.type, q.data.data() + r * qrb, back.data() + r * cols, cols);
      });
      if (rotate) {  // back to the unrotated basis (H is its own inverse), where the unscaling applies
        pool.parallel_for(rows, 16, [&](int64_t begin, int64_t end) {
          for (int64_t r = begin; r < end; ++r) {
            hadamard_rotate(w.data() + r * cols, cols, block);
            hadamard_rotate(back.data() + r * cols, cols, block);
          }
        });
      }
      double err = 0, norm = 0;
      for (int64_t k = 0; k < n; ++k) {
        // Rescaled matrices are compared in the model's own scale (w / s, rows times s).
        const double unscale = (s != nullptr ? 1.0 / (*s)[k % cols] : 1.0) * (s_rows != nullptr ? (*s_rows)[k / cols] : 1.0);
        const double d = (static_cast<double>(w[k]) - back[k]) * unscale;
        err += d * d;
        norm += static_cast<double>(w[k]) * w[k] * unscale * unscale;
      }
      tr.type = q.type;
      tr.quantized = true;
      const QuantSpec& wanted =
          is_embedding_or_output(t.name) && options.embd_spec ? *options.embd_spec : wanted_specs[i];
      tr.fell_back = spec->type != wanted.type;
      tr.bits = spec->bits;
      tr.alpha = alphas[i];
      tr.bytes = q.data.size();
      tr.rel_rmse = norm > 0 ? std::sqrt(err / norm) : 0.0;
      report.quantized_elements += static_cast<uint64_t>(n);
      report.quantized_bytes += tr.bytes;
    }
    report.total_elements += static_cast<uint64_t>(n);
    report.total_bytes += tr.bytes;
    report.tensors.push_back(tr);
    if (progress) progress(i + 1, total, t.name);
  }
  writer.write(out);
  report.file_bytes = std::filesystem::file_size(out);
  return report;
}

}  // namespace tessera
