// alphaq's allocated bits in K types (ModelQuantOptions::k_types): a matrix
// whose rows a K type cannot hold keeps exactly its allocated bits in the
// legacy container, rather than the K fallback's extra bit.
#include <gtest/gtest.h>

#include <string>

#include "gguf/gguf_file.h"
#include "quant/model_quantizer.h"
#include "tiny_llama.h"

namespace tessera {
namespace {

TEST(AlphaqTypes, RowsTooShortForKTypesKeepTheirBitsInLegacyTypes) {
  // The tiny model's layer matrices read 64 or 128 inputs: no K type fits.
  ModelQuantOptions o;
  o.method = "rtn";
  o.avg_bits = 3.5;
  o.k_types = true;
  const std::string out = unique_temp_path("alphaq_k_short_rows.gguf");
  const ModelQuantReport r = quantize_model(tiny::write_tiny_llama("llama"), out, o, {});
  int three = 0, four = 0;
  for (const TensorReport& t : r.tensors) {
    if (!t.quantized || t.name == "token_embd.weight") continue;
    EXPECT_EQ(t.type, GgmlType::Q4_0) << t.name;  // 3 bits emulated in Q4_0, 4 bits in Q4_0: never Q5_0
    EXPECT_TRUE(t.bits == 3 || t.bits == 4) << t.name << " " << t.bits;
    (t.bits == 3 ? three : four) += 1;
  }
  EXPECT_GT(three, 0);
  EXPECT_GT(four, 0);
}

}  // namespace
}  // namespace tessera
