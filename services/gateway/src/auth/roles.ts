// Roles and what each root field needs. viewer reads and subscribes; operator also imports data, creates and
// cancels jobs, evaluates and derives artefacts from jobs; admin also registers base models, deletes, and manages
// keys (admin CLI). A mutation missing from the table needs admin, so a new field is closed until placed here.
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** True when `role` includes everything `required` may do. */
export function roleAllows(role: Role, required: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(required);
}

export const MUTATION_ROLES: Readonly<Record<string, Role>> = {
  importDataset: 'operator',
  createFineTuneJob: 'operator',
  cancelFineTuneJob: 'operator',
  evaluateAdapter: 'operator',
  mergeAdapter: 'operator',
  combineAdapters: 'operator',
  exportModel: 'operator',
  generate: 'operator',
  compareModels: 'operator',
  registerBaseModel: 'admin',
  deleteDataset: 'admin',
};

export function requiredRole(rootType: 'Query' | 'Mutation' | 'Subscription', field: string): Role {
  if (rootType !== 'Mutation') return 'viewer';
  return MUTATION_ROLES[field] ?? 'admin';
}
