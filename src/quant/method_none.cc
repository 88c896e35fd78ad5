// none: no quantization, the matrix stored as F32, F16 or BF16. With F16 it
// writes the dequantized baseline every other method is measured against.
#include "core/error.h"
#include "core/thread_pool.h"
#include "quant/quant_method.h"
#include "quant/quantize.h"

namespace tessera {

namespace {

class NoneMethod final : public QuantMethod {
 public:
  std::string_view name() const override { return "none"; }
  std::string_view description() const override { return "float storage (F32, F16, BF16): the baseline"; }
  void check(const QuantSpec& spec) const override {
    if (spec.type != GgmlType::F32 && spec.type != GgmlType::F16 && spec.type != GgmlType::BF16) {
      raise<InvalidArgument>("method none writes F32, F16 or BF16, not {}", type_name(spec.type));
    }
  }
  QuantizedMatrix quantize(MatrixRef w, const QuantSpec& spec, const QuantStats&, ThreadPool& pool) const override {
    check(spec);
    QuantizedMatrix out;
    out.type = spec.type;
    const int64_t rb = row_bytes(spec.type, w.cols);
    out.data.resize(static_cast<size_t>(rb * w.rows));
    auto convert = spec.type == GgmlType::F16 ? quantize_row_f16
                   : spec.type == GgmlType::BF16 ? quantize_row_bf16
                                                 : quantize_row_f32;
    pool.parallel_for(w.rows, 16, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) convert(w.data + r * w.cols, out.data.data() + r * rb, w.cols);
    });
    return out;
  }
};

}  // namespace

std::unique_ptr<QuantMethod> make_method_none() { return std::make_unique<NoneMethod>(); }

}  // namespace tessera
