// Page tokens: an opaque cursor plus a fingerprint of the filters it was issued for, so a token reused with
// other filters is refused instead of silently paging a different list.

import { InvalidArgumentError } from '@tunemesh/kit';

export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 500;

export function pageSize(requested: number | undefined): number {
  return Math.min(MAX_PAGE, requested === undefined || requested === 0 ? DEFAULT_PAGE : requested);
}

export function encodeToken(cursor: number, filters: unknown): string {
  return Buffer.from(JSON.stringify({ c: cursor, f: JSON.stringify(filters) })).toString('base64url');
}

/** The cursor of a token; undefined for the first page. */
export function decodeToken(token: string | undefined, filters: unknown): number | undefined {
  if (token === undefined || token === '') return undefined;
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { c?: unknown; f?: unknown };
    if (typeof t.c === 'number' && Number.isSafeInteger(t.c) && t.c >= 0 && t.f === JSON.stringify(filters)) return t.c;
  } catch {
    // fall through: not one of ours
  }
  throw new InvalidArgumentError('page_token is not valid for these filters', { field: 'page.page_token' });
}
