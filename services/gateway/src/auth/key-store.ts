// API keys, hashed at rest in one JSON file (the gateway holds no domain state; this is its only store).
// A key is `tmk_<id>_<secret>`: the id finds the record, the secret is checked against its SHA-256. Secrets are
// 32 random bytes, so a fast hash is enough (nothing to brute-force, unlike passwords); the comparison is
// constant-time. The file is re-read when it changes, so keys created by the admin CLI work without a restart.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { isRole, type Role } from './roles.js';

export interface ApiKeyRecord {
  id: string;
  name: string;
  role: Role;
  /** hex SHA-256 of the secret part. */
  secretSha256: string;
  createdAt: string;
  revokedAt: string | null;
}

export interface Caller {
  keyId: string;
  role: Role;
}

const KEY_PATTERN = /^tmk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export class KeyStore {
  private cache: { mtimeMs: number; size: number; keys: ApiKeyRecord[] } | undefined;

  constructor(readonly path: string) {}

  list(): ApiKeyRecord[] {
    if (!existsSync(this.path)) return [];
    const stat = statSync(this.path);
    if (this.cache?.mtimeMs === stat.mtimeMs && this.cache.size === stat.size) return this.cache.keys;
    const parsed: unknown = JSON.parse(readFileSync(this.path, 'utf8'));
    const keys = (parsed as { keys?: unknown }).keys;
    if (!Array.isArray(keys)) throw new Error(`${this.path} is not a key file ({"keys": [...]})`);
    const valid = (keys as ApiKeyRecord[]).filter((k) => typeof k.id === 'string' && isRole(k.role));
    this.cache = { mtimeMs: stat.mtimeMs, size: stat.size, keys: valid };
    return valid;
  }

  /** Creates a key; the returned token is shown once and never stored. */
  create(role: Role, name: string): { token: string; record: ApiKeyRecord } {
    const id = randomBytes(9)
      .toString('base64url')
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '0')
      .slice(0, 12);
    const secret = randomBytes(32).toString('base64url');
    const record: ApiKeyRecord = {
      id,
      name,
      role,
      secretSha256: sha256(secret),
      createdAt: new Date().toISOString(),
      revokedAt: null,
    };
    this.write([...this.list(), record]);
    return { token: `tmk_${id}_${secret}`, record };
  }

  revoke(id: string): boolean {
    const keys = this.list();
    const key = keys.find((k) => k.id === id && k.revokedAt === null);
    if (key === undefined) return false;
    this.write(keys.map((k) => (k === key ? { ...k, revokedAt: new Date().toISOString() } : k)));
    return true;
  }

  /** The caller a bearer token identifies; undefined for a malformed, unknown or revoked key. */
  authenticate(token: string): Caller | undefined {
    const match = KEY_PATTERN.exec(token);
    if (match === null) return undefined;
    const [, id, secret] = match as unknown as [string, string, string];
    const key = this.list().find((k) => k.id === id);
    if (key === undefined || key.revokedAt !== null) return undefined;
    const expected = Buffer.from(key.secretSha256, 'hex');
    const actual = Buffer.from(sha256(secret), 'hex');
    return expected.length === actual.length && timingSafeEqual(expected, actual)
      ? { keyId: key.id, role: key.role }
      : undefined;
  }

  private write(keys: ApiKeyRecord[]): void {
    mkdirSync(dirname(this.path), { recursive: true });
    // Write then rename: a gateway reading concurrently sees the old file or the new one, never half of one.
    const temporary = `${this.path}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify({ keys }, null, 2)}\n`, { mode: 0o600 });
    chmodSync(temporary, 0o600);
    renameSync(temporary, this.path);
    this.cache = undefined;
  }
}
