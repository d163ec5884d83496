// A path-aware reader over untrusted, already-parsed input (YAML, JSON).
// Every accessor records a ValidationIssue (with file:line and field path)
// instead of throwing, so one pass reports every problem at once.

import { ValidationError, type ValidationIssue } from './errors.js';
import { formatPath, type PathSeg } from './path-format.js';
import type { SourceDoc } from './yaml-source.js';
import { parseDuration } from './duration.js';

export interface ReaderContext {
  issues: ValidationIssue[];
  source?: Pick<SourceDoc, 'file' | 'lineOf'>;
}

export class Reader {
  constructor(
    readonly value: unknown,
    readonly path: readonly PathSeg[] = [],
    readonly ctx: ReaderContext = { issues: [] },
  ) {}

  static of(doc: SourceDoc): Reader {
    return new Reader(doc.value, [], { issues: [], source: doc });
  }

  get present(): boolean {
    return this.value !== undefined && this.value !== null;
  }
  get pathString(): string {
    return formatPath(this.path);
  }
  get ok(): boolean {
    return this.ctx.issues.length === 0;
  }

  fail(message: string): undefined {
    const src = this.ctx.source;
    this.ctx.issues.push({ file: src?.file, line: src?.lineOf(this.path), path: this.pathString, message });
    return undefined;
  }

  /** Throws a ValidationError listing every recorded issue, if any. */
  throwIfIssues(what?: string): void {
    if (this.ctx.issues.length) throw new ValidationError(this.ctx.issues, what);
  }

  field(key: string): Reader {
    const v = isPlainObject(this.value) ? this.value[key] : undefined;
    return new Reader(v, [...this.path, key], this.ctx);
  }

  /** True when the value is an object; records an issue otherwise (if present or required). */
  object(required = false): boolean {
    if (!this.present) return required ? !!this.fail('is required') : false;
    if (!isPlainObject(this.value)) return !!this.fail(`must be an object, got ${typeName(this.value)}`);
    return true;
  }

  keys(): string[] {
    return isPlainObject(this.value) ? Object.keys(this.value) : [];
  }

  /** Report fields that are not in `allowed` (typos should not pass silently). */
  onlyKeys(allowed: readonly string[]): void {
    if (!isPlainObject(this.value)) return;
    for (const k of Object.keys(this.value)) {
      if (!allowed.includes(k)) this.field(k).fail(`unknown field (expected one of: ${allowed.join(', ')})`);
    }
  }

  array(required = false): Reader[] {
    if (!this.present) {
      if (required) this.fail('is required');
      return [];
    }
    if (!Array.isArray(this.value)) {
      this.fail(`must be a list, got ${typeName(this.value)}`);
      return [];
    }
    return this.value.map((v, i) => new Reader(v, [...this.path, i], this.ctx));
  }

  /** Entries of a map value, each as [key, reader]. */
  entries(): [string, Reader][] {
    if (!isPlainObject(this.value)) return [];
    return Object.keys(this.value).map((k) => [k, this.field(k)]);
  }

  string(opts: { required?: boolean; enum?: readonly string[]; pattern?: RegExp; patternHint?: string; maxLength?: number } = {}): string | undefined {
    if (!this.present) return opts.required ? this.fail('is required') : undefined;
    if (typeof this.value !== 'string') return this.fail(`must be a string, got ${typeName(this.value)}`);
    const s = this.value;
    if (opts.required && s === '') return this.fail('must not be empty');
    if (opts.enum && !opts.enum.includes(s)) return this.fail(`must be one of ${opts.enum.join(', ')}; got "${s}"`);
    if (opts.pattern && !opts.pattern.test(s)) return this.fail(`"${s}" is not valid${opts.patternHint ? ` (${opts.patternHint})` : ''}`);
    if (opts.maxLength !== undefined && s.length > opts.maxLength) return this.fail(`must be at most ${opts.maxLength} characters`);
    return s;
  }

  number(opts: { required?: boolean; integer?: boolean; min?: number; max?: number } = {}): number | undefined {
    if (!this.present) return opts.required ? this.fail('is required') : undefined;
    let v = this.value;
    if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) v = Number(v); // protobuf JSON encodes 64-bit ints as strings
    if (typeof v !== 'number' || !Number.isFinite(v)) return this.fail(`must be a number, got ${typeName(this.value)}`);
    if (opts.integer && !Number.isInteger(v)) return this.fail(`must be a whole number, got ${v}`);
    if (opts.min !== undefined && v < opts.min) return this.fail(`must be ≥ ${opts.min}, got ${v}`);
    if (opts.max !== undefined && v > opts.max) return this.fail(`must be ≤ ${opts.max}, got ${v}`);
    return v;
  }

  boolean(opts: { required?: boolean } = {}): boolean | undefined {
    if (!this.present) return opts.required ? this.fail('is required') : undefined;
    if (typeof this.value !== 'boolean') return this.fail(`must be true or false, got ${typeName(this.value)}`);
    return this.value;
  }

  /** A duration such as "1.5s", "250ms", "1m30s" or a protobuf {seconds, nanos}; returns milliseconds. */
  duration(opts: { required?: boolean; min?: number; max?: number } = {}): number | undefined {
    if (!this.present) return opts.required ? this.fail('is required') : undefined;
    let ms: number | undefined;
    if (typeof this.value === 'string') ms = parseDuration(this.value);
    else if (isPlainObject(this.value) && ('seconds' in this.value || 'nanos' in this.value)) {
      const s = Number(this.value.seconds ?? 0);
      const n = Number(this.value.nanos ?? 0);
      if (Number.isFinite(s) && Number.isFinite(n)) ms = s * 1000 + n / 1e6;
    }
    if (ms === undefined) return this.fail(`must be a duration like "250ms", "1.5s" or "1m", got ${JSON.stringify(this.value)}`);
    if (opts.min !== undefined && ms < opts.min) return this.fail(`must be at least ${opts.min}ms`);
    if (opts.max !== undefined && ms > opts.max) return this.fail(`must be at most ${opts.max}ms`);
    return ms;
  }
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}
