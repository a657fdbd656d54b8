// Small React hooks over api.ts: a query with loading/error state and reload, and hash-based routing (the
// gateway serves one index.html at `/`, so pages live in the fragment: #/jobs/job_1).
import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, gql } from './api';

export interface QueryState<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload(): void;
}

/** Runs `query` when `variables` change (compared as JSON); `skip` holds it back. */
export function useQuery<T>(query: string, variables: Record<string, unknown> = {}, skip = false): QueryState<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<ApiError>();
  const [loading, setLoading] = useState(!skip);
  const [generation, setGeneration] = useState(0);
  const key = JSON.stringify(variables);
  const latest = useRef(0);
  const shown = useRef(`${query}\n${key}`);
  // biome-ignore lint/correctness/useExhaustiveDependencies: `key` stands for `variables`; generation is the reload trigger
  useEffect(() => {
    if (skip) return;
    const run = ++latest.current;
    // Other variables (another job's page): never show the previous answer as this one's. A reload keeps it.
    if (shown.current !== `${query}\n${key}`) {
      shown.current = `${query}\n${key}`;
      setData(undefined);
      setError(undefined);
    }
    setLoading(true);
    gql<T>(query, JSON.parse(key) as Record<string, unknown>)
      .then((d) => {
        if (run !== latest.current) return;
        setData(d);
        setError(undefined);
      })
      .catch((e: unknown) => {
        if (run !== latest.current) return;
        setError(e instanceof ApiError ? e : new ApiError(String(e), 'INTERNAL'));
      })
      .finally(() => {
        if (run === latest.current) setLoading(false);
      });
  }, [query, key, skip, generation]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return { data, error, loading, reload };
}

/** The route: the fragment's path split into parts, e.g. "#/jobs/job_1" → ["jobs", "job_1"]. */
function parseHash(): string[] {
  return location.hash
    .replace(/^#\/?/, '')
    .split('/')
    .filter((p) => p !== '')
    .map(decodeURIComponent);
}

export function useRoute(): string[] {
  const [parts, setParts] = useState(parseHash);
  useEffect(() => {
    const onChange = () => setParts(parseHash());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return parts;
}

export function navigate(path: string): void {
  location.hash = path.startsWith('#') ? path : `#${path}`;
}
