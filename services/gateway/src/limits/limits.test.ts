import { buildSchema, parse, validate } from 'graphql/index.js';
import { describe, expect, it } from 'vitest';
import { loadTypeDefs } from '../schema.js';
import { RateLimiter } from './rate-limit.js';
import { limitRules } from './rules.js';

const schema = buildSchema(loadTypeDefs());
const check = (query: string, limits = { maxDepth: 6, maxCost: 1000, introspection: true }) =>
  validate(schema, parse(query), limitRules(limits)).map((e) => e.extensions);

describe('depth and cost rules', () => {
  it('measures depth through fragments and refuses past the limit', () => {
    expect(check('{ fineTuneJobs { edges { node { dataset { id } } } } }')).toEqual([]);
    const deep = check(`
      query Deep { fineTuneJobs { edges { node { ...J } } } }
      fragment J on FineTuneJob { evaluations { job { dataset { id } } } }`);
    expect(deep).toEqual([expect.objectContaining({ code: 'BAD_USER_INPUT', reason: 'DEPTH_LIMIT', depth: 7 })]);
  });

  it('multiplies by page sizes: first, its default, a variable as the maximum page', () => {
    // 1 (datasets) + 10 × (1 edges + 1 node + 1 id) = 31
    const ok = check('{ datasets(first: 10) { edges { node { id } } } }', {
      maxDepth: 10,
      maxCost: 31,
      introspection: true,
    });
    expect(ok).toEqual([]);
    const over = check('{ datasets(first: 11) { edges { node { id } } } }', {
      maxDepth: 10,
      maxCost: 31,
      introspection: true,
    });
    expect(over).toEqual([expect.objectContaining({ reason: 'COST_LIMIT', cost: 34 })]);
    const variable = check('query($n: Int) { datasets(first: $n) { edges { node { id } } } }', {
      maxDepth: 10,
      maxCost: 301,
      introspection: true,
    });
    expect(variable).toEqual([]); // 1 + 100 × 3
    expect(check('{ datasets { edges { node { id } } } }', { maxDepth: 10, maxCost: 60, introspection: true })).toEqual(
      [
        expect.objectContaining({ cost: 61 }), // the default page of 20
      ],
    );
  });

  it('refuses introspection only when it is turned off', () => {
    expect(check('{ __schema { types { name } } }')).toEqual([]);
    const off = validate(
      schema,
      parse('{ __schema { types { name } } }'),
      limitRules({ maxDepth: 6, maxCost: 1000, introspection: false }),
    );
    expect(off.length).toBeGreaterThan(0);
    expect(off[0]?.message).toMatch(/introspection/);
  });
});

describe('rate limiter', () => {
  it('allows a burst of perMinute, then refills at perMinute/60 per second, per key', () => {
    let now = 0;
    const limiter = new RateLimiter(60, () => now);
    for (let i = 0; i < 60; i++) expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(1);
    expect(limiter.take('b')).toBe(0);
    now += 1000;
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(1);
    expect(new RateLimiter(0, () => now).take('a')).toBe(0);
  });
});
