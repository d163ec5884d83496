// The bootstrap file in YAML (JSON is YAML too; bootstrap-json.ts reads a
// .json file without loading the YAML parser). What the document holds and
// how it is checked: bootstrap-doc.ts.

import { readFileSync } from 'node:fs';
import { ValidationError } from '../../common/errors.js';
import { parseYamlDocuments } from '../../common/yaml-source.js';
import { bootstrapFromDoc, type Bootstrap } from './bootstrap-doc.js';

export * from './bootstrap-doc.js';

export function loadBootstrapFile(file: string): Bootstrap {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ValidationError([{ file, path: '', message: `cannot read the bootstrap file: ${(e as Error).message}` }], 'bootstrap');
  }
  return parseBootstrap(text, file);
}

export function parseBootstrap(text: string, file?: string): Bootstrap {
  const docs = parseYamlDocuments(text, file);
  if (docs.length !== 1) throw new ValidationError([{ file, path: '', message: `expected one YAML document, found ${docs.length}` }], 'bootstrap');
  const doc = docs[0]!;
  return bootstrapFromDoc(doc, file);
}
