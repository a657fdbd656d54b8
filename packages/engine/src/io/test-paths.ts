import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The shared fixtures folder beside the repository (`<repo>/../shared/fixtures`); tests only. */
export const FIXTURES = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  '..',
  '..',
  'shared',
  'fixtures',
);
