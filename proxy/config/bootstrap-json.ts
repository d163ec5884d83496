// A bootstrap file in JSON (Envoy reads `.json` bootstraps as well as YAML),
// parsed with JSON.parse: a sidecar started this way never loads the YAML
// parser, whose code and data stay resident for the process's life (~1–2 MB
// of RSS; an injected sidecar, bootstrapped from its environment, does not
// load it either). Only to report a problem is the same text read again as
// YAML — a superset of JSON — so the errors carry file:line like a YAML
// bootstrap's.

import { readFileSync } from 'node:fs';
import { ValidationError } from '../../common/errors.js';
import { bootstrapFromDoc, type Bootstrap } from './bootstrap-doc.js';

export function isJsonBootstrap(file: string): boolean {
  return file.toLowerCase().endsWith('.json');
}

export async function loadJsonBootstrapFile(file: string): Promise<Bootstrap> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ValidationError([{ file, path: '', message: `cannot read the bootstrap file: ${(e as Error).message}` }], 'bootstrap');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return reportWithLines(text, file, new ValidationError([{ file, path: '', message: `JSON syntax error: ${(e as Error).message}` }], `bootstrap ${file}`));
  }
  try {
    return bootstrapFromDoc({ value, file, line: 1, lineOf: () => undefined }, file);
  } catch (err) {
    if (err instanceof ValidationError) return reportWithLines(text, file, err);
    throw err;
  }
}

/** Throws the YAML reading's error (with lines); `original` if that reading finds nothing wrong. */
async function reportWithLines(text: string, file: string, original: ValidationError): Promise<never> {
  const { parseBootstrap } = await import('./bootstrap.js');
  parseBootstrap(text, file);
  throw original;
}
