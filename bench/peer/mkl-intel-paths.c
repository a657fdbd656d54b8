/* Preloaded into the MKL peer on AMD CPUs (bench/peer-blas.ts). MKL picks its kernels by asking whether the CPU
 * is Intel's; on any other vendor it keeps to its generic (AVX2) paths even where the CPU has AVX-512. Answering
 * yes lets it use the AVX-512 kernels the CPU supports, the fastest GEMM MKL has here (measured 2026-11-29 on an
 * AVX-512 AMD EPYC: 150–178 GFLOP/s on two threads without, 193–198 with). */
int mkl_serv_intel_cpu_true(void) { return 1; }
