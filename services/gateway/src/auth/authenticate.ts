// Who is calling: an API key from `Authorization: Bearer <key>` (HTTP) or the connection params of a
// WebSocket (`{ authorization: "Bearer <key>" }` or `{ apiKey: "<key>" }`), or anyone in development mode.
import type { Caller, KeyStore } from './key-store.js';

export type AuthState = { caller: Caller; problem?: undefined } | { caller: null; problem: 'missing' | 'invalid' };

/** The caller of development mode: every role, no key. */
export const DEVELOPMENT_CALLER: Caller = { keyId: 'development-mode', role: 'admin' };

export interface Authenticator {
  fromHeader(authorization: string | undefined): AuthState;
  fromConnectionParams(params: Readonly<Record<string, unknown>> | undefined): AuthState;
}

export function createAuthenticator(options: { devMode: boolean; store: KeyStore }): Authenticator {
  const check = (token: string | undefined): AuthState => {
    if (options.devMode) return { caller: DEVELOPMENT_CALLER };
    if (token === undefined || token === '') return { caller: null, problem: 'missing' };
    const caller = options.store.authenticate(token);
    return caller ? { caller } : { caller: null, problem: 'invalid' };
  };
  const bearer = (value: string | undefined): string | undefined => {
    if (value === undefined) return undefined;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(value);
    // A header that is not a bearer token is a key we cannot read: invalid, not missing.
    return match ? match[1] : value === '' ? undefined : '!';
  };
  return {
    fromHeader: (authorization) => check(bearer(authorization)),
    fromConnectionParams(params) {
      const authorization = params?.authorization ?? params?.Authorization;
      if (typeof authorization === 'string') return check(bearer(authorization));
      return check(typeof params?.apiKey === 'string' ? params.apiKey : undefined);
    },
  };
}
