// Admin CLI for the gateway's API keys (built to dist/admin.js):
//   node services/gateway/dist/admin.js keys create --role operator [--name ci] [--file PATH]
//   node services/gateway/dist/admin.js keys list [--file PATH]
//   node services/gateway/dist/admin.js keys revoke <id> [--file PATH]
// The file defaults to GATEWAY_KEYS_FILE (else data/gateway-keys.json), the same the gateway reads. Run it
// where the gateway's key file lives: keys are an admin's act on the host, not an API call.
import { parseArgs } from 'node:util';
import { KeyStore } from './auth/key-store.js';
import { isRole, ROLES } from './auth/roles.js';

const USAGE = `usage: admin.js keys create --role ${ROLES.join('|')} [--name NAME] [--file PATH]
       admin.js keys list [--file PATH]
       admin.js keys revoke ID [--file PATH]`;

export function runAdmin(argv: readonly string[], out: (line: string) => void, env = process.env): number {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { role: { type: 'string' }, name: { type: 'string' }, file: { type: 'string' } },
  });
  const store = new KeyStore(values.file ?? env.GATEWAY_KEYS_FILE ?? 'data/gateway-keys.json');
  const [group, command, argument] = positionals;
  if (group !== 'keys') {
    out(USAGE);
    return 2;
  }
  if (command === 'create') {
    if (values.role === undefined || !isRole(values.role)) {
      out(`--role must be one of ${ROLES.join(', ')}\n${USAGE}`);
      return 2;
    }
    const { token, record } = store.create(values.role, values.name ?? '');
    out(`created key ${record.id} (${record.role}); it is shown once, store it now:\n${token}`);
    return 0;
  }
  if (command === 'list') {
    for (const k of store.list()) {
      out(
        `${k.id}\t${k.role}\t${k.revokedAt === null ? 'active' : `revoked ${k.revokedAt}`}\t${k.createdAt}\t${k.name}`,
      );
    }
    return 0;
  }
  if (command === 'revoke' && argument !== undefined) {
    if (store.revoke(argument)) {
      out(`revoked ${argument}`);
      return 0;
    }
    out(`no active key ${argument}`);
    return 1;
  }
  out(USAGE);
  return 2;
}

// Run as a program (not when a test imports runAdmin).
if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  process.exitCode = runAdmin(process.argv.slice(2), (line) => console.log(line));
}
