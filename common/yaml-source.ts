// Parse YAML (one or many documents) while keeping a map from field paths to
// source lines, so validation errors can say file:line and field.

import { LineCounter, parseAllDocuments, isMap, isSeq, isScalar, isPair, type Node as YamlNode } from 'yaml';
import { ValidationError, type ValidationIssue } from './errors.js';

import type { PathSeg } from './path-format.js';

export { formatPath, type PathSeg } from './path-format.js';

export interface SourceDoc {
  value: unknown;
  file?: string;
  /** 1-based line of the document's start. */
  line: number;
  /** Line of the node at `path` (or of its nearest existing ancestor). */
  lineOf(path: readonly PathSeg[]): number | undefined;
}

export function parseYamlDocuments(text: string, file?: string): SourceDoc[] {
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false });
  const issues: ValidationIssue[] = [];
  const out: SourceDoc[] = [];
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    for (const e of doc.errors) {
      const line = e.pos ? lc.linePos(e.pos[0]).line : undefined;
      issues.push({ file, line, path: '', message: `YAML syntax error: ${e.message.split('\n')[0]}` });
    }
    if (doc.errors.length) continue;
    if (doc.contents === null) continue; // empty document (e.g. trailing ---)
    const root = doc.contents as YamlNode;
    const lineAt = (n: YamlNode | null | undefined) => (n?.range ? lc.linePos(n.range[0]).line : undefined);
    let value: unknown;
    try {
      // Throws on an alias to an unknown anchor (`*x`) or an alias bomb.
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      issues.push({ file, line: lineAt(root), path: '', message: `YAML error: ${(e as Error).message}` });
      continue;
    }
    out.push({
      value,
      file,
      line: lineAt(root) ?? 1,
      lineOf(path) {
        let node: unknown = root;
        let best = lineAt(root);
        for (const seg of path) {
          if (isMap(node)) {
            const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
            if (!pair) break;
            best = lineAt(pair.key as YamlNode) ?? best;
            node = pair.value;
          } else if (isSeq(node) && typeof seg === 'number' && node.items[seg]) {
            node = node.items[seg];
            best = lineAt(node as YamlNode) ?? best;
          } else break;
        }
        return best;
      },
    });
  }
  if (issues.length) throw new ValidationError(issues, file ? `YAML in ${file}` : 'YAML');
  return out;
}
