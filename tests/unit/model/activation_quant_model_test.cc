// Model::set_activation_quant: the layer matrices read their inputs on the
// activation grid. 8-bit groups barely move the logits, 2-bit per-token
// grids move them a lot, switching it off gives the unquantized logits back
// bit for bit, and a group that does not divide an input is a clear error.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "core/error.h"
#include "model/model.h"
#include "tiny_llama.h"

namespace tessera {
namespace {

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, static_cast<double>(std::fabs(a[i] - b[i])));
  return d;
}

TEST(ActivationQuantModel, GridsMoveLogitsByTheirCoarseness) {
  const std::string path = tiny::write_tiny_llama("llama", 128, GgmlType::F32, {}, "tessera_actq.gguf");
  auto m = Model::load(path);
  ThreadPool pool(2);
  const auto plain = tiny::logits_of_fixed_prompt(*m, pool);
  double max_logit = 0;
  for (float v : plain) max_logit = std::max(max_logit, static_cast<double>(std::fabs(v)));

  m->set_activation_quant(make_activation_quant(8, "32"));
  const double a8 = max_abs_diff(tiny::logits_of_fixed_prompt(*m, pool), plain);
  m->set_activation_quant(make_activation_quant(4, "32"));
  const double a4 = max_abs_diff(tiny::logits_of_fixed_prompt(*m, pool), plain);
  m->set_activation_quant(make_activation_quant(2, "token"));
  const double a2 = max_abs_diff(tiny::logits_of_fixed_prompt(*m, pool), plain);
  std::printf("max|logit| %.3f; max change A8 g32 %.4f, A4 g32 %.4f, A2 per-token %.4f\n", max_logit, a8, a4, a2);
  EXPECT_GT(a8, 0.0);
  EXPECT_LT(a8, 5e-2 * max_logit);  // this random model amplifies any change (test_logits_parity.py)
  EXPECT_LT(a8, a4);
  EXPECT_LT(a4, a2);
  EXPECT_GT(a2, 0.2 * max_logit);

  m->set_activation_quant(ActivationQuant{});
  EXPECT_EQ(tiny::logits_of_fixed_prompt(*m, pool), plain);

  // The tiny model's inputs are 64 and 128 wide: a group of 48 divides neither.
  m->set_activation_quant(make_activation_quant(4, "48"));
  EXPECT_THROW(tiny::logits_of_fixed_prompt(*m, pool), InvalidArgument);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace tessera
