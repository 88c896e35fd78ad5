#!/usr/bin/env python3
"""llvm-mca on the innermost-largest loop of one function of an assembly file
(docs/performance.md, "Where prefill time went on Zen 3"): takes the lines of
the function, finds the longest backward jump (the hot loop body), and prints
llvm-mca's cycles per iteration and the instruction mix.

  g++ -O3 -DNDEBUG -mavx2 -mfma -mf16c -mbmi2 -std=c++20 -Isrc -S -o /tmp/p.s src/kernels/packed_avx2.cc
  c++filt < /tmp/p.s > /tmp/p.d.s
  grep -n '^void.*q4_0_tile_shared<3, false>' /tmp/p.d.s        # the function's first line
  python3 bench/probes/mca_inner_loop.py /tmp/p.d.s FIRST_LINE [--mcpu znver3]
"""
import argparse
import collections
import re
import subprocess


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("asm")
    ap.add_argument("first_line", type=int, help="line of the function's label (1-based)")
    ap.add_argument("--mcpu", default="znver3")
    args = ap.parse_args()
    lines = open(args.asm).read().split("\n")[args.first_line:]
    end = next((i for i, l in enumerate(lines) if re.match(r"^\s+\.size\s", l)), len(lines))
    lines = lines[:end]
    labels = {m.group(1): i for i, l in enumerate(lines) if (m := re.match(r"^(\.L\d+):", l))}
    loops = [(i - labels[m.group(1)], labels[m.group(1)], i) for i, l in enumerate(lines)
             if (m := re.match(r"^\s+j\w+\s+(\.L\d+)", l)) and labels.get(m.group(1), i) < i]
    if not loops:
        raise SystemExit("no backward jump in that function")
    _, start, stop = max(loops)
    body = [l for l in lines[start + 1:stop + 1] if l.strip() and not l.strip().startswith(".")]
    out = subprocess.run(["llvm-mca", f"-mcpu={args.mcpu}", "-iterations=200"], input="\n".join(body) + "\n",
                         capture_output=True, text=True, check=True).stdout
    cycles = int(re.search(r"Total Cycles:\s+(\d+)", out).group(1)) / 200
    mix = collections.Counter(l.split()[0] for l in body)
    print(f"{cycles:.1f} cycles per iteration, {len(body)} instructions")
    for op, n in mix.most_common():
        print(f"  {n:4d} {op}")


if __name__ == "__main__":
    main()
