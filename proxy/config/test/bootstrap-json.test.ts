// A .json bootstrap: the same Bootstrap as its YAML twin, and its problems
// reported with file:line (through the YAML reading of the same text).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../../common/errors.js';
import { loadBootstrapFile } from '../bootstrap.js';
import { isJsonBootstrap, loadJsonBootstrapFile } from '../bootstrap-json.js';

const sample = fileURLToPath(new URL('../../../examples/bootstrap/http-one-hop.yaml', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'tsmesh-json-bootstrap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

async function refusal(file: string): Promise<ValidationError> {
  const err = await loadJsonBootstrapFile(file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ValidationError);
  return err as ValidationError;
}

describe('JSON bootstrap files', () => {
  it('are recognised by their extension', () => {
    expect(isJsonBootstrap('/etc/tsmesh/bootstrap.json')).toBe(true);
    expect(isJsonBootstrap('/etc/tsmesh/bootstrap.JSON')).toBe(true);
    expect(isJsonBootstrap('/etc/tsmesh/bootstrap.yaml')).toBe(false);
  });

  it('give the same bootstrap as the YAML they were written from', async () => {
    const json = write('one-hop.json', JSON.stringify(parseYaml(readFileSync(sample, 'utf8')), null, 2));
    const fromJson = await loadJsonBootstrapFile(json);
    const fromYaml = loadBootstrapFile(sample);
    expect(fromJson.node).toEqual(fromYaml.node);
    expect(fromJson.admin).toEqual(fromYaml.admin);
    expect(fromJson.drainTimeout).toBe(fromYaml.drainTimeout);
    expect([...fromJson.snapshot.resources.cluster.values()]).toEqual([...fromYaml.snapshot.resources.cluster.values()]);
    expect([...fromJson.snapshot.resources.listener.values()]).toEqual([...fromYaml.snapshot.resources.listener.values()]);
  });

  it('report a bad field with its file, line and path', async () => {
    const doc = parseYaml(readFileSync(sample, 'utf8')) as { staticResources: { clusters: { connectTimeout: string }[] } };
    doc.staticResources.clusters[0]!.connectTimeout = 'soon';
    const text = JSON.stringify(doc, null, 2);
    const line = text.split('\n').findIndex((l) => l.includes('"soon"')) + 1;
    const err = await refusal(write('bad-field.json', text));
    expect(err.message).toContain(`bad-field.json:${line}: staticResources.clusters[0].connectTimeout: must be a duration`);
  });

  it('report a JSON syntax error with the file, and an unreadable file with the reason', async () => {
    const broken = write('broken.json', '{\n  "node": { "id": "x", "cluster": c }\n}\n');
    expect((await refusal(broken)).message).toContain(`${broken}: JSON syntax error: Unexpected token`);
    expect((await refusal(join(dir, 'missing.json'))).message).toContain('cannot read the bootstrap file: ENOENT');
  });
});
