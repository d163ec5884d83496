// An access log's format in a bootstrap file: Envoy's command operators as a
// text line (`textFormat`) or a JSON object of format strings (`jsonFormat`,
// with `omitEmptyValues`), compiled here so a bad one is reported by line.

import type { Reader } from '../../common/reader.js';
import type { AccessLogFormat } from './resources.js';
import { logFormatProblem } from '../telemetry/log-format.js';

export const LOG_FORMAT_KEYS = ['textFormat', 'jsonFormat', 'omitEmptyValues'] as const;

/**
 * `kind` is the bootstrap log's `format` (text or json), or undefined for a listener's sink, whose kind is
 * whichever of textFormat / jsonFormat it has. Returns undefined when no format is given.
 */
export function readLogFormat(r: Reader, kind?: 'text' | 'json'): AccessLogFormat | undefined {
  const text = r.field('textFormat');
  const json = r.field('jsonFormat');
  const omitEmpty = r.field('omitEmptyValues').boolean() ?? false;
  if (text.present && (json.present || kind === 'json')) return void text.fail(json.present ? 'give textFormat or jsonFormat, not both' : 'only with format: text');
  if (json.present && kind === 'text') return void json.fail('only with format: json');
  if (text.present) {
    const t = text.string({ maxLength: 16 * 1024 });
    if (t === undefined) return undefined;
    const problem = logFormatProblem({ text: t });
    return problem ? text.fail(problem.reason) : { text: t };
  }
  if (json.present) {
    if (!json.object()) return undefined;
    const obj = json.value as Record<string, unknown>;
    const problem = logFormatProblem({ json: obj });
    if (problem) return problem.path.split('.').reduce((f, k) => f.field(k), json).fail(problem.reason);
    return omitEmpty ? { json: obj, omitEmptyValues: true } : { json: obj };
  }
  return undefined;
}
