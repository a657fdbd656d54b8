// A form generated from a method's JSON Schema (the `methods` query): one input per property, typed by the
// schema (integer, number, boolean, enum string, list of strings), pre-filled with the trainer's defaults and
// validated against minimum / maximum / exclusiveMaximum before anything is sent.
import type { ReactElement } from 'react';

export interface PropertySchema {
  type: 'integer' | 'number' | 'boolean' | 'string' | 'array';
  description?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMaximum?: number;
  enum?: string[];
  default?: unknown;
  'x-peft-field'?: string;
}

export interface ObjectSchema {
  properties: Record<string, PropertySchema>;
}

/** What the inputs hold: text for numbers and lists (as typed), booleans for checkboxes. */
export type FormValues = Record<string, string | boolean>;

export function initialValues(schema: ObjectSchema, defaults: Record<string, unknown>): FormValues {
  const values: FormValues = {};
  for (const [name, p] of Object.entries(schema.properties)) {
    const d = defaults[name] ?? p.default;
    if (p.type === 'boolean') values[name] = d === true;
    else if (p.type === 'array') values[name] = Array.isArray(d) ? d.join(', ') : '';
    else values[name] = d === undefined || d === null ? '' : String(d);
  }
  return values;
}

/** The value to send for one property, or an error message; undefined value means "leave to the default". */
export function parseProperty(p: PropertySchema, raw: string | boolean): { value?: unknown; error?: string } {
  if (p.type === 'boolean') return { value: raw === true };
  const text = String(raw).trim();
  if (text === '') return {};
  if (p.type === 'array') {
    return {
      value: text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    };
  }
  if (p.type === 'string') {
    if (p.enum && !p.enum.includes(text)) return { error: `one of ${p.enum.join(', ')}` };
    return { value: text };
  }
  const n = Number(text);
  if (!Number.isFinite(n)) return { error: 'a number' };
  if (p.type === 'integer' && !Number.isInteger(n)) return { error: 'a whole number' };
  if (p.minimum !== undefined && n < p.minimum) return { error: `at least ${p.minimum}` };
  if (p.maximum !== undefined && n > p.maximum) return { error: `at most ${p.maximum}` };
  if (p.exclusiveMaximum !== undefined && n >= p.exclusiveMaximum) return { error: `below ${p.exclusiveMaximum}` };
  return { value: n };
}

/** Every property's parsed value and every error, keyed by property name. */
export function parseForm(schema: ObjectSchema, values: FormValues) {
  const out: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const [name, p] of Object.entries(schema.properties)) {
    const { value, error } = parseProperty(p, values[name] ?? '');
    if (error) errors[name] = `must be ${error}`;
    else if (value !== undefined) out[name] = value;
  }
  return { value: out, errors };
}

interface Props {
  idPrefix: string;
  schema: ObjectSchema;
  values: FormValues;
  errors: Record<string, string>;
  onChange(values: FormValues): void;
}

export function SchemaForm({ idPrefix, schema, values, errors, onChange }: Props) {
  return (
    <div className="schema-form">
      {Object.entries(schema.properties).map(([name, p]) => {
        const id = `${idPrefix}-${name}`;
        const set = (v: string | boolean) => onChange({ ...values, [name]: v });
        let input: ReactElement;
        if (p.type === 'boolean') {
          input = (
            <input
              id={id}
              name={name}
              type="checkbox"
              checked={values[name] === true}
              onChange={(e) => set(e.target.checked)}
            />
          );
        } else if (p.enum) {
          input = (
            <select id={id} name={name} value={String(values[name] ?? '')} onChange={(e) => set(e.target.value)}>
              {p.enum.map((o) => (
                <option key={o} value={o}>
                  {o}
                </option>
              ))}
            </select>
          );
        } else {
          const numeric = p.type === 'integer' || p.type === 'number';
          input = (
            <input
              id={id}
              name={name}
              type="text"
              inputMode={numeric ? 'decimal' : 'text'}
              placeholder={p.type === 'array' ? 'comma-separated; empty: default' : 'empty: default'}
              value={String(values[name] ?? '')}
              aria-invalid={errors[name] !== undefined}
              onChange={(e) => set(e.target.value)}
            />
          );
        }
        return (
          <div className="form-row" key={name}>
            <label htmlFor={id}>
              {name}
              {p['x-peft-field'] && p['x-peft-field'] !== name && <code className="muted"> {p['x-peft-field']}</code>}
            </label>
            {input}
            <small className="muted">{p.description}</small>
            {errors[name] && <small className="error">{`${name} ${errors[name]}`}</small>}
          </div>
        );
      })}
    </div>
  );
}
