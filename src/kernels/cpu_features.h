// Runtime CPU feature detection for kernel dispatch. One binary runs on any
// x86-64 with AVX2+FMA+F16C; wider paths are chosen at run time.
#pragma once

#include <string>

namespace tessera {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512vnni = false;
  bool avx_vnni = false;
  std::string summary() const;  // e.g. "AVX2 FMA F16C AVX512F AVX512VNNI"
};

// Detected once; TESSERA_ISA=avx2 (or scalar) in the environment caps the
// level, so tests and benchmarks can force each path on one machine.
const CpuFeatures& cpu_features();

}  // namespace tessera
