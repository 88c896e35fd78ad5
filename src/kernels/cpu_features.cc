#include "kernels/cpu_features.h"

#include <cstdlib>
#include <cstring>

namespace tessera {

std::string CpuFeatures::summary() const {
  std::string s;
  auto add = [&](bool on, const char* name) {
    if (!on) return;
    if (!s.empty()) s.push_back(' ');
    s.append(name);
  };
  add(avx2, "AVX2");
  add(fma, "FMA");
  add(f16c, "F16C");
  add(avx512f, "AVX512F");
  add(avx512bw, "AVX512BW");
  add(avx512vl, "AVX512VL");
  add(avx512vnni, "AVX512VNNI");
  add(avx_vnni, "AVXVNNI");
  return s.empty() ? "scalar" : s;
}

namespace {

CpuFeatures detect() {
  CpuFeatures f;
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.f16c = true;  // the baseline build requires it; checked by the loader of the binary's ISA
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512vnni = __builtin_cpu_supports("avx512vnni");
  f.avx_vnni = __builtin_cpu_supports("avxvnni");
  // TESSERA_ISA caps the level so every path can be tested on one machine.
  if (const char* cap = std::getenv("TESSERA_ISA")) {
    if (std::strcmp(cap, "avx2") == 0 || std::strcmp(cap, "scalar") == 0) {
      f.avx512f = f.avx512bw = f.avx512vl = f.avx512vnni = f.avx_vnni = false;
    }
  }
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

}  // namespace tessera
