;; AdamW's per-element update (adamw-simd.ts runs it; adamw.ts has the formula and the JS loop it must equal).
;; Compiled by scripts/wasm-kernels.ts into wasm-kernels.ts; edit this file, then run make wasm-kernels.
;;
;; Four elements at a time in f32x4 lanes, every operation a float32 one, in torch.optim.AdamW's order (each line
;; below is one of its tensor ops). WebAssembly neither fuses nor reorders, and a float32 operation rounds as the
;; double one followed by Math.fround does, so the stored bits are the JS loop's. The one double operation is the
;; gradient's read: fround(g · gradScale), the value clipping in place stores.
(module
  (import "env" "mem" (memory 1))

  ;; One step over nBytes / 4 elements (a multiple of 4: staging and moments are padded) at byte offsets p, g,
  ;; m, v. The float32 scalars arrive rounded (a JS number passed as f32 is rounded to nearest, as Math.fround).
  ;; lerpSmall: −1 when |1 − β1| < 0.5 (m + w·(g − m)), else 0 (g + (w − 1)·(g − m)); lerpCoeff is w or w − 1.
  (func (export "adamw")
    (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $nBytes i32)
    (param $gradScale f64) (param $decay f32) (param $lerpSmall i32) (param $lerpCoeff f32)
    (param $beta2 f32) (param $c2 f32) (param $bc2Sqrt f32) (param $eps f32) (param $negStepSize f32)
    (local $o i32) (local $at i32)
    ;; The scalars in every lane, then this group's gradient, decayed parameter, old and new moments.
    (local $GS v128) (local $DECAY v128) (local $SMALL v128) (local $COEFF v128) (local $B2 v128)
    (local $C2 v128) (local $BC2 v128) (local $EPS v128) (local $NSTEP v128)
    (local $gi v128) (local $pi v128) (local $m0 v128) (local $mi v128) (local $vi v128)
    (local.set $GS (f64x2.splat (local.get $gradScale)))
    (local.set $DECAY (f32x4.splat (local.get $decay)))
    (local.set $SMALL (i32x4.splat (local.get $lerpSmall)))
    (local.set $COEFF (f32x4.splat (local.get $lerpCoeff)))
    (local.set $B2 (f32x4.splat (local.get $beta2)))
    (local.set $C2 (f32x4.splat (local.get $c2)))
    (local.set $BC2 (f32x4.splat (local.get $bc2Sqrt)))
    (local.set $EPS (f32x4.splat (local.get $eps)))
    (local.set $NSTEP (f32x4.splat (local.get $negStepSize)))
    (block $done
      (loop $group
        (br_if $done (i32.ge_u (local.get $o) (local.get $nBytes)))
        ;; gi = fround(g · gradScale), in double two lanes at a time, the halves put back together
        (local.set $at (i32.add (local.get $g) (local.get $o)))
        (local.set $gi
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero
              (f64x2.mul (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $at))) (local.get $GS)))
            (f32x4.demote_f64x2_zero
              (f64x2.mul (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 (local.get $at))) (local.get $GS)))))
        ;; param.mul_(decay)
        (local.set $pi (f32x4.mul (v128.load (i32.add (local.get $p) (local.get $o))) (local.get $DECAY)))
        ;; exp_avg.lerp_(grad, w): base + coeff · (g − m), base m (small w) or g
        (local.set $at (i32.add (local.get $m) (local.get $o)))
        (local.set $m0 (v128.load (local.get $at)))
        (local.set $mi
          (f32x4.add
            (v128.bitselect (local.get $m0) (local.get $gi) (local.get $SMALL))
            (f32x4.mul (local.get $COEFF) (f32x4.sub (local.get $gi) (local.get $m0)))))
        (v128.store (local.get $at) (local.get $mi))
        ;; exp_avg_sq.mul_(β2).addcmul_(grad, grad, value=1 − β2)
        (local.set $at (i32.add (local.get $v) (local.get $o)))
        (local.set $vi
          (f32x4.add
            (f32x4.mul (v128.load (local.get $at)) (local.get $B2))
            (f32x4.mul (f32x4.mul (local.get $C2) (local.get $gi)) (local.get $gi))))
        (v128.store (local.get $at) (local.get $vi))
        ;; param.addcdiv_(exp_avg, (exp_avg_sq.sqrt() / √(1 − β2ᵗ)).add_(eps), value=−stepSize)
        (local.set $at (i32.add (local.get $p) (local.get $o)))
        (v128.store (local.get $at)
          (f32x4.add
            (local.get $pi)
            (f32x4.div
              (f32x4.mul (local.get $NSTEP) (local.get $mi))
              (f32x4.add (f32x4.div (f32x4.sqrt (local.get $vi)) (local.get $BC2)) (local.get $EPS)))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $group)))))
