// Memory for large buffers that the kernels stream through (the packed
// weights, the roofline's read buffer).
#pragma once

#include <cstddef>
#include <cstdint>

namespace tessera {

// Returns `bytes` of memory, 64-byte aligned; from 2 MiB up also 2 MiB aligned
// and advised as transparent huge pages before anything touches it. Why: with
// 4 KiB pages a decode step's weight stream takes a TLB miss every 4 KiB and
// the hardware prefetchers stop at every page boundary (1.1B Q4_K_M decode, 2
// threads, AVX-512 Xeon VM: 32.5 -> 41.2 tok/s; docs/performance.md). The
// advice is a no-op where THP is off ("never") or already on ("always").
// Returns nullptr when out of memory; release with std::free.
uint8_t* allocate_huge_page_aligned(size_t bytes);

}  // namespace tessera
