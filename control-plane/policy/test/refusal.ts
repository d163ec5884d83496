// What a refused policy text is told: the issue lines of the ValidationError
// (`file:line: path: message`), in order. Fails the test if the text is accepted.
import { expect } from 'vitest';
import { ValidationError } from '../../../common/errors.js';
import { parsePolicies } from '../parse.js';

export function refusalOf(text: string, file = 'p.yaml'): string {
  try {
    parsePolicies(text, file);
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    expect((e as ValidationError).code).toBe('MESH_INVALID_CONFIG');
    return (e as Error).message;
  }
  throw new Error('expected a validation error');
}

/** The issue lines alone, without the "invalid policy (N problems):" heading. */
export function refusalLines(text: string, file = 'p.yaml'): string[] {
  return refusalOf(text, file).split('\n').slice(1).map((l) => l.trim());
}
