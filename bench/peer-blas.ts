// Which BLAS the PyTorch peer's GEMMs run on. Debian's python3-torch links the libblas.so.3 that Debian's
// alternatives point at (OpenBLAS once libopenblas0-pthread is installed); PyTorch's own wheels use MKL. With
// TUNEMESH_PEER_BLAS=mkl the peer's process loads MKL (Debian non-free's libmkl-rt) as its libblas.so.3 instead,
// so the comparison can be run against the BLAS the peer uses, on the same machine.

import { execFile } from 'node:child_process';
import { access, mkdir, readFile, realpath, symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PeerBlas {
  /** What the peer's GEMMs run on, in words, for the report. */
  label: string;
  env: NodeJS.ProcessEnv;
}

const LIBDIR = '/usr/lib/x86_64-linux-gnu';
const here = dirname(fileURLToPath(import.meta.url));

/** The environment for the peer's process; `scratch` is a directory this run owns (links and the shim go there). */
export async function peerBlasEnv(kind: string, scratch: string): Promise<PeerBlas> {
  if (kind === 'default') {
    const lib = await realpath(join(LIBDIR, 'libblas.so.3')).catch(() => 'libblas.so.3');
    return { label: `its default BLAS (${lib})`, env: { ...process.env } };
  }
  if (kind !== 'mkl') throw new Error(`TUNEMESH_PEER_BLAS must be "default" or "mkl", not "${kind}"`);
  const mkl = process.env.TUNEMESH_MKL_RT ?? join(LIBDIR, 'libmkl_rt.so');
  try {
    await access(mkl);
  } catch {
    throw new Error(
      `TUNEMESH_PEER_BLAS=mkl: no MKL at ${mkl} (on Debian: add the "non-free" component to the apt sources and ` +
        'install libmkl-rt; or set TUNEMESH_MKL_RT to a libmkl_rt.so)',
    );
  }
  const libs = join(scratch, 'mkl-blas');
  await mkdir(libs, { recursive: true });
  // The peer resolves libblas.so.3 / liblapack.so.3 through LD_LIBRARY_PATH first: MKL's single dynamic library
  // exports both interfaces.
  await symlink(mkl, join(libs, 'libblas.so.3'));
  await symlink(mkl, join(libs, 'liblapack.so.3'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LD_LIBRARY_PATH: [libs, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':'),
    // torch runs its own ops on GNU OpenMP; MKL's default Intel OpenMP runtime is not loaded in that process.
    MKL_THREADING_LAYER: 'GNU',
  };
  const parts = ['MKL'];
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  if (/\bavx512f\b/.test(cpuinfo)) {
    // ATen's vectorised elementwise kernels at AVX-512 where the CPU has it, as the fastest build would run.
    env.ATEN_CPU_CAPABILITY = 'avx512';
    parts.push('ATen AVX-512 kernels');
  }
  if (/AuthenticAMD/.test(cpuinfo)) {
    const shim = join(scratch, 'mkl-intel-paths.so');
    const built = await compile(resolve(here, 'peer/mkl-intel-paths.c'), shim);
    if (built) {
      env.LD_PRELOAD = [shim, process.env.LD_PRELOAD].filter(Boolean).join(' ');
      parts.push("MKL's Intel code paths on this AMD CPU");
    } else parts.push("MKL's non-Intel code paths (no C compiler for the shim)");
  }
  return { label: `${parts.join(', ')} (${mkl})`, env };
}

function compile(src: string, out: string): Promise<boolean> {
  return new Promise((done) => {
    execFile('cc', ['-shared', '-fPIC', '-O2', '-o', out, src], (err) => done(err === null));
  });
}
