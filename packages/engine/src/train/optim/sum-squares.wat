;; The global norm's pass over a gradient: scale it and sum its squares (clip.ts scaleAndSumSquares;
;; sum-squares-simd.ts runs it). Compiled by scripts/wasm-kernels.ts into wasm-kernels.ts; edit this file, then
;; run make wasm-kernels.
;;
;; clip.ts's order, exactly: four double partial sums, element i into sum i mod 4. Here they are two f64x2
;; accumulators, (s0, s1) and (s2, s3), read from and stored back to 32 bytes at acc so that a tensor staged in
;; chunks (multiples of 4 elements) continues where the last chunk stopped; the caller adds the tail and
;; combines the four sums. A float32 squared in double is exact, and each addition rounds as JS's does, so the
;; sums are the JS loop's to the bit. (The plain sum, clip.ts sumOfSquares, stays JS: as a kernel it measured no
;; faster, its staging copy costing what the vector adds saved.)
(module
  (import "env" "mem" (memory 1))

  ;; Σ x² over nBytes / 4 float32 at x (a multiple of 4), into the sums at acc, after x ← fround(x · factor):
  ;; each element scaled in double, stored back as float32 and squared as stored.
  (func (export "scale_sum_squares") (param $x i32) (param $nBytes i32) (param $acc i32) (param $factor f64)
    (local $o i32) (local $at i32) (local $F v128) (local $s01 v128) (local $s23 v128)
    (local $lo v128) (local $hi v128)
    (local.set $F (f64x2.splat (local.get $factor)))
    (local.set $s01 (v128.load (local.get $acc)))
    (local.set $s23 (v128.load offset=16 (local.get $acc)))
    (block $done
      (loop $group
        (br_if $done (i32.ge_u (local.get $o) (local.get $nBytes)))
        (local.set $at (i32.add (local.get $x) (local.get $o)))
        ;; x · factor in double, rounded to float32 (demote)
        (local.set $lo
          (f32x4.demote_f64x2_zero
            (f64x2.mul (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $at))) (local.get $F))))
        (local.set $hi
          (f32x4.demote_f64x2_zero
            (f64x2.mul (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 (local.get $at))) (local.get $F))))
        (v128.store (local.get $at)
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $lo) (local.get $hi)))
        (local.set $lo (f64x2.promote_low_f32x4 (local.get $lo)))
        (local.set $hi (f64x2.promote_low_f32x4 (local.get $hi)))
        (local.set $s01 (f64x2.add (local.get $s01) (f64x2.mul (local.get $lo) (local.get $lo))))
        (local.set $s23 (f64x2.add (local.get $s23) (f64x2.mul (local.get $hi) (local.get $hi))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $group)))
    (v128.store (local.get $acc) (local.get $s01))
    (v128.store offset=16 (local.get $acc) (local.get $s23))))
