// Who is using the page: the gateway's `viewer` query answers the API key's role, and the role decides which
// actions are shown (the gateway checks them again: hiding a button is a courtesy, not the protection).
import { createContext, type FormEvent, type ReactNode, useContext, useState } from 'react';
import { storedKey, storeKey } from './api';
import { useQuery } from './hooks';

export type Role = 'viewer' | 'operator' | 'admin';
const ORDER: readonly Role[] = ['viewer', 'operator', 'admin'];

export interface Viewer {
  keyId: string;
  role: Role;
  devMode: boolean;
}

interface AuthValue {
  viewer: Viewer;
  can(required: Role): boolean;
  signOut(): void;
}

const AuthContext = createContext<AuthValue | undefined>(undefined);

export function useAuth(): AuthValue {
  const value = useContext(AuthContext);
  if (value === undefined) throw new Error('useAuth outside <AuthGate>');
  return value;
}

/** Shows the key form until the gateway accepts a key (or runs in development mode), then the children. */
export function AuthGate({ children }: { children: ReactNode }) {
  const {
    data,
    error,
    loading,
    reload: retry,
  } = useQuery<{ viewer: Viewer }>('query Viewer { viewer { keyId role devMode } }');
  const [draft, setDraft] = useState('');
  const signOut = () => {
    storeKey(null);
    retry();
  };

  if (data && !error) {
    const viewer = data.viewer;
    const can = (required: Role) => ORDER.indexOf(viewer.role) >= ORDER.indexOf(required);
    return <AuthContext.Provider value={{ viewer, can, signOut }}>{children}</AuthContext.Provider>;
  }
  const submit = (e: FormEvent) => {
    e.preventDefault();
    storeKey(draft.trim());
    setDraft('');
    retry();
  };
  const rejected = error && (error.code === 'UNAUTHENTICATED' || error.code === 'FORBIDDEN');
  return (
    <div className="signin">
      <h1>tunemesh</h1>
      {loading && <p>Connecting to the gateway…</p>}
      {error && !rejected && <p className="error">{error.message}</p>}
      {rejected && storedKey() !== null && (
        <p className="error">The gateway did not accept that key: {error.message}</p>
      )}
      <form onSubmit={submit}>
        <label>
          API key
          <input
            name="apiKey"
            type="password"
            autoComplete="off"
            placeholder="tmk_…"
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
          />
        </label>
        <button type="submit" disabled={draft.trim() === ''}>
          Sign in
        </button>
      </form>
      <p className="hint">
        The key is kept in this browser tab's session only. An admin makes keys with the gateway's admin CLI.
      </p>
    </div>
  );
}
