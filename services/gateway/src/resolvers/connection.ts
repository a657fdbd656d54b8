// Relay connections over the services' page tokens, and the page-size limit every list argument obeys.
import type { PageRequest, PageResponse } from '@tunemesh/proto';
import { badUserInput } from '../errors.js';

export const MAX_PAGE_SIZE = 100;

export function pageRequest(args: { first?: number | null; after?: string | null }): PageRequest {
  const first = args.first ?? 20;
  if (first < 1 || first > MAX_PAGE_SIZE) throw badUserInput(`first must be between 1 and ${MAX_PAGE_SIZE}`, 'first');
  return { pageSize: first, pageToken: args.after ?? '' };
}

export interface Connection<N> {
  edges: { cursor: string; node: N }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/**
 * The services page by opaque token, not by item; an edge's cursor is its id (stable, for client caches) and
 * `after` takes pageInfo.endCursor, which is the service's next-page token.
 */
export function connection<T extends { id: string }>(items: T[], page: PageResponse | undefined): Connection<T> {
  const endCursor = page?.nextPageToken ?? '';
  return {
    edges: items.map((item) => ({ cursor: item.id, node: item })),
    pageInfo: { hasNextPage: endCursor !== '', endCursor: endCursor === '' ? null : endCursor },
  };
}
