import { describe, expect, it } from 'vitest';
import { parseYamlDocuments } from '../yaml-source.js';
import { ValidationError } from '../errors.js';
import { Reader } from '../reader.js';

describe('parseYamlDocuments', () => {
  it('maps field paths to their lines', () => {
    const [doc] = parseYamlDocuments('a:\n  b:\n    - x: 1\n    - x: 2\n', 'f.yaml');
    expect(doc!.lineOf(['a', 'b', 1, 'x'])).toBe(4);
    expect(doc!.lineOf(['a', 'missing'])).toBe(1);
  });

  it('reports a syntax error with file and line instead of throwing something else', () => {
    expect(() => parseYamlDocuments('a: [1, 2\nb: 3\n', 'bad.yaml')).toThrow(ValidationError);
  });

  it('refuses an alias to an unknown anchor with a ValidationError', () => {
    let err: unknown;
    try {
      parseYamlDocuments('a: *nowhere\n', 'alias.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).message).toContain('alias.yaml');
  });

  it('lets a Reader collect every problem with file:line and field', () => {
    const [doc] = parseYamlDocuments('port: "x"\nname: 3\n', 'r.yaml');
    const r = Reader.of(doc!);
    r.field('port').number({ integer: true });
    r.field('name').string({ required: true });
    expect(r.ctx.issues.map((i) => `${i.file}:${i.line} ${i.path}`)).toEqual(['r.yaml:1 port', 'r.yaml:2 name']);
  });
});
