// com.microsoft RotaryEmbedding rotates each pair (x1[i], x2[i]) of a head by the angle θ of its position: a
// rotation, so its transpose, the backward of the input, is the rotation by −θ — the same op with −sin. The
// cos/sin tables and position ids are functions of the positions only; no gradient flows into them here.

import * as ops from '../../onnx/ops.js';
import { MS } from '../emit.js';
import type { RuleEntry } from './context.js';
import { go0 } from './elementwise.js';

export const rotaryRules: Record<string, RuleEntry> = {
  [`${MS}:RotaryEmbedding`]: {
    grad: (ctx) => {
      if (ctx.needs(2) || ctx.needs(3)) ctx.unsupported('no gradient into the cos/sin tables (they must not train)');
      if (ctx.attrInt('interleaved', 0) !== 0 || ctx.attrInt('rotary_embedding_dim', 0) !== 0) {
        ctx.unsupported('only the rotate-half form over the whole head (interleaved 0, rotary_embedding_dim 0)');
      }
      if (ctx.I(0).shape?.length !== 4) ctx.unsupported('only [batch, heads, seq, head_dim] inputs');
      if (!ctx.needs(0)) return [null, null, null, null];
      const { b } = ctx;
      const back = ops.rotaryEmbedding(b, go0(ctx), ctx.I(1), ctx.I(2), ops.neg(b, ctx.I(3)));
      return [back, null, null, null];
    },
  },
};
