// Small shared pieces: status badges, error boxes, labelled values.
import type { ReactNode } from 'react';
import type { ApiError } from '../api';

export function Status({ value }: { value: string | null | undefined }) {
  const v = value ?? 'UNKNOWN';
  return (
    <span className={`status status-${v.toLowerCase()}`} data-status={v}>
      {v}
    </span>
  );
}

export function ErrorBox({ error }: { error: ApiError | Error | string | undefined | null }) {
  if (!error) return null;
  const message = typeof error === 'string' ? error : error.message;
  const code = typeof error === 'object' && 'code' in error ? ` [${error.code}]` : '';
  return (
    <p className="error" role="alert">
      {message}
      {code}
    </p>
  );
}

export function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="field">
      <span className="field-label">{label}</span>
      <span className="field-value">{children}</span>
    </div>
  );
}
