// Runtime CPU feature detection for kernel dispatch. One binary runs on any
// x86-64 with AVX2+FMA+F16C; wider paths are chosen at run time.
#pragma once

#include <string>

namespace tessera {

// Kernel families, ordered: a CPU that runs a level runs every lower one.
// kAvx512 means AVX-512 F/BW/VL plus VNNI (the integer dot instruction).
enum class IsaLevel { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

const char* isa_level_name(IsaLevel level);  // "scalar", "avx2", "avx512"

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;
  bool avx_vnni = false;
  // The highest kernel level this CPU (and OS) supports, capped by TESSERA_ISA.
  IsaLevel level = IsaLevel::kScalar;
  std::string summary() const;  // e.g. "AVX2 FMA F16C AVX512F AVX512VNNI"
};

// Detected once with cpuid/xgetbv (xgetbv tells whether the OS saves the
// AVX / AVX-512 registers). TESSERA_ISA=scalar|avx2|avx512 in the environment
// caps the level, so tests and benchmarks can force each path on one machine.
const CpuFeatures& cpu_features();

}  // namespace tessera
