#include "model/op_profile.h"

#include <algorithm>

#include "gguf/ggml_type.h"

namespace tessera {

void OpProfile::add_matmul(std::span<const WeightMatrix* const> ws, double seconds) {
  std::string name = "matmul";
  int64_t bytes = 0;
  for (size_t i = 0; i < ws.size(); ++i) {
    const WeightMatrix& w = *ws[i];
    name += (i == 0 ? " " : " + ") + std::string(type_name(w.type)) + " " + std::to_string(w.rows) + "x" +
            std::to_string(w.cols);
    bytes += matrix_read_bytes(w);
  }
  Entry& e = by_name_[name];
  e.name = name;
  e.calls += 1;
  e.seconds += seconds;
  e.weight_bytes = bytes;
}

void OpProfile::add(const std::string& name, double seconds) {
  Entry& e = by_name_[name];
  e.name = name;
  e.calls += 1;
  e.seconds += seconds;
}

std::vector<OpProfile::Entry> OpProfile::entries() const {
  std::vector<Entry> out;
  double covered = 0;
  for (const auto& [name, e] : by_name_) {
    out.push_back(e);
    covered += e.seconds;
  }
  Entry other;
  other.name = "other (norms, RoPE, activations, embedding, waits)";
  other.calls = forwards_;
  other.seconds = std::max(0.0, forward_seconds_ - covered);
  out.push_back(other);
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.seconds > b.seconds; });
  return out;
}

void OpProfile::clear() {
  by_name_.clear();
  forward_seconds_ = 0;
  forwards_ = 0;
}

}  // namespace tessera
