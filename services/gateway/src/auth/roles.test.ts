import { buildSchema } from 'graphql/index.js';
import { describe, expect, it } from 'vitest';
import { loadTypeDefs } from '../schema.js';
import { MUTATION_ROLES, requiredRole, roleAllows } from './roles.js';

describe('roles', () => {
  it('places every mutation of the schema, and nothing else', () => {
    const mutations = Object.keys(buildSchema(loadTypeDefs()).getMutationType()?.getFields() ?? {});
    expect(Object.keys(MUTATION_ROLES).sort()).toEqual(mutations.sort());
  });

  it('orders viewer < operator < admin and lets viewers read and subscribe', () => {
    expect(roleAllows('admin', 'operator')).toBe(true);
    expect(roleAllows('operator', 'admin')).toBe(false);
    expect(roleAllows('viewer', 'operator')).toBe(false);
    expect(requiredRole('Query', 'datasets')).toBe('viewer');
    expect(requiredRole('Subscription', 'trainingProgress')).toBe('viewer');
    expect(requiredRole('Mutation', 'someFutureMutation')).toBe('admin');
  });
});
