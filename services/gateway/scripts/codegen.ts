// `pnpm --filter @tunemesh/gateway codegen`: writes src/generated/resolvers-types.ts from src/schema.graphql.
import { writeFileSync } from 'node:fs';
import { GENERATED_TYPES_PATH, generateResolverTypes } from '../src/codegen.js';
import { loadTypeDefs } from '../src/schema.js';

writeFileSync(GENERATED_TYPES_PATH, await generateResolverTypes(loadTypeDefs()));
console.log(`wrote ${GENERATED_TYPES_PATH.pathname}`);
