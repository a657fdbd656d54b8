;; AdamW's per-element update (adamw-simd.ts runs it; adamw.ts has the formula and the JS loop it must equal).
;; Compiled by scripts/wasm-kernels.ts into wasm-kernels.ts; edit this file, then rerun the script.
;;
;; Two elements at a time in f64x2 lanes: float32 values promoted to double (exact), the same IEEE double
;; operations in the same order as the JS loop, demoted to float32 (round to nearest, as Math.fround) where the
;; loop calls Math.fround or stores. WebAssembly neither fuses nor reorders, so the stored bits are the loop's.
(module
  (import "env" "mem" (memory 1))

  ;; One step over nBytes / 4 elements (even: staging and moments are padded) at byte offsets p, g, m, v.
  (func (export "adamw")
    (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $nBytes i32)
    (param $gradScale f64) (param $beta1 f64) (param $beta2 f64) (param $c1 f64) (param $c2 f64)
    (param $eps f64) (param $decay f64) (param $stepSize f64) (param $invBc2Sqrt f64)
    (local $o i32)
    ;; The scalars in both lanes, then this pair's gi, mi, vi.
    (local $GS v128) (local $B1 v128) (local $B2 v128) (local $C1 v128) (local $C2 v128)
    (local $EPS v128) (local $DECAY v128) (local $STEP v128) (local $INV v128)
    (local $gi v128) (local $mi v128) (local $vi v128)
    (local.set $GS (f64x2.splat (local.get $gradScale)))
    (local.set $B1 (f64x2.splat (local.get $beta1)))
    (local.set $B2 (f64x2.splat (local.get $beta2)))
    (local.set $C1 (f64x2.splat (local.get $c1)))
    (local.set $C2 (f64x2.splat (local.get $c2)))
    (local.set $EPS (f64x2.splat (local.get $eps)))
    (local.set $DECAY (f64x2.splat (local.get $decay)))
    (local.set $STEP (f64x2.splat (local.get $stepSize)))
    (local.set $INV (f64x2.splat (local.get $invBc2Sqrt)))
    (block $done
      (loop $pair
        (br_if $done (i32.ge_u (local.get $o) (local.get $nBytes)))
        ;; gi = fround(g · gradScale)
        (local.set $gi
          (f64x2.promote_low_f32x4 (f32x4.demote_f64x2_zero
            (f64x2.mul
              (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $g) (local.get $o))))
              (local.get $GS)))))
        ;; mi = fround(beta1 · m + c1 · gi)
        (local.set $mi
          (f64x2.promote_low_f32x4 (f32x4.demote_f64x2_zero
            (f64x2.add
              (f64x2.mul
                (local.get $B1)
                (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $m) (local.get $o)))))
              (f64x2.mul (local.get $C1) (local.get $gi))))))
        ;; vi = fround(beta2 · v + (c2 · gi) · gi)
        (local.set $vi
          (f64x2.promote_low_f32x4 (f32x4.demote_f64x2_zero
            (f64x2.add
              (f64x2.mul
                (local.get $B2)
                (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $v) (local.get $o)))))
              (f64x2.mul (f64x2.mul (local.get $C2) (local.get $gi)) (local.get $gi))))))
        (v128.store64_lane 0
          (i32.add (local.get $m) (local.get $o))
          (f32x4.demote_f64x2_zero (local.get $mi)))
        (v128.store64_lane 0
          (i32.add (local.get $v) (local.get $o))
          (f32x4.demote_f64x2_zero (local.get $vi)))
        ;; p = fround(fround(p · decay) − (stepSize · mi) / (√vi · invBc2Sqrt + eps))
        (v128.store64_lane 0
          (i32.add (local.get $p) (local.get $o))
          (f32x4.demote_f64x2_zero
            (f64x2.sub
              (f64x2.promote_low_f32x4 (f32x4.demote_f64x2_zero
                (f64x2.mul
                  (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $p) (local.get $o))))
                  (local.get $DECAY))))
              (f64x2.div
                (f64x2.mul (local.get $STEP) (local.get $mi))
                (f64x2.add
                  (f64x2.mul (f64x2.sqrt (local.get $vi)) (local.get $INV))
                  (local.get $EPS))))))
        (local.set $o (i32.add (local.get $o) (i32.const 8)))
        (br $pair)))))
