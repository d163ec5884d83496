// An optional YAML file of services and endpoints for the embedded registry
// (workloads without a sidecar that registers itself, or a fixed topology).
// The file is watched; a bad edit is logged and the last good content stays.
//
//   services:
//     - name: reviews
//       namespace: default            # default "default"
//       ports: [{ port: 9080, protocol: http }]
//       endpoints:
//         - address: 127.0.0.1
//           inboundPort: 15006
//           appPort: 9080
//           serviceAccount: reviews    # default "default"
//           labels: { version: v1 }

import { readFile } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { Reader } from '../../common/reader.js';
import { parseYamlSafely } from '../policy/parse.js';
import { systemClock, type Clock, type Timer } from '../../common/clock.js';
import type { Logger } from '../../common/log.js';
import { ValidationError, type ValidationIssue } from '../../common/errors.js';
import { serviceHostname, spiffeId, type AppProtocol, type ServiceEndpoint, type ServiceInfo } from './types.js';
import type { EmbeddedRegistry, StaticEntries } from './embedded-registry.js';

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const MAX_FILE_BYTES = 8 * 1024 * 1024;

/** Parse a services file; endpoint identities use `trustDomain` (the registry re-derives them when it changes). */
export function parseServicesFile(text: string, file: string, trustDomain = 'cluster.local'): StaticEntries {
  const docs = parseYamlSafely(text, file);
  const services: ServiceInfo[] = [];
  const endpoints: ServiceEndpoint[] = [];
  const issues: ValidationIssue[] = [];
  for (const doc of docs) {
    const r = new Reader(doc.value, [], { issues, source: doc });
    r.object(true);
    r.onlyKeys(['services']);
    for (const s of r.field('services').array(true)) {
      s.object(true);
      s.onlyKeys(['name', 'namespace', 'ports', 'endpoints', 'labels']);
      const name = s.field('name').string({ required: true, pattern: NAME, patternHint: 'a DNS-1123 name' }) ?? '';
      const namespace = s.field('namespace').string({ pattern: NAME, patternHint: 'a DNS-1123 name' }) ?? 'default';
      const ports = s.field('ports').array().map((p) => {
        p.object(true);
        p.onlyKeys(['name', 'port', 'protocol']);
        return {
          name: p.field('name').string(),
          port: p.field('port').number({ required: true, integer: true, min: 1, max: 65535 }) ?? 0,
          protocol: (p.field('protocol').string({ enum: ['http', 'http2', 'grpc', 'tcp'] }) ?? 'http') as AppProtocol,
        };
      });
      const labels: Record<string, string> = {};
      for (const [k, v] of s.field('labels').entries()) labels[k] = v.string({ required: true }) ?? '';
      services.push({ name, namespace, hostname: serviceHostname(name, namespace), ports, labels });
      s.field('endpoints').array().forEach((e, i) => {
        e.object(true);
        e.onlyKeys(['address', 'inboundPort', 'appPort', 'serviceAccount', 'labels']);
        const epLabels: Record<string, string> = {};
        for (const [k, v] of e.field('labels').entries()) epLabels[k] = v.string({ required: true }) ?? '';
        const sa = e.field('serviceAccount').string({ pattern: NAME, patternHint: 'a DNS-1123 name' }) ?? 'default';
        const address = e.field('address').string({ required: true, maxLength: 255 }) ?? '';
        const inboundPort = e.field('inboundPort').number({ required: true, integer: true, min: 1, max: 65535 }) ?? 0;
        endpoints.push({
          id: `file:${namespace}/${name}/${i}`,
          service: name,
          namespace,
          address,
          inboundPort,
          appPort: e.field('appPort').number({ integer: true, min: 1, max: 65535 }),
          labels: epLabels,
          version: epLabels['version'],
          serviceAccount: sa,
          identity: spiffeId(trustDomain, namespace, sa),
          healthy: true,
        });
      });
    }
  }
  if (issues.length) throw new ValidationError(issues, `services file ${file}`);
  return { services, endpoints };
}

/** Loads `file` into the registry now and again whenever it changes (debounced). */
export class ServicesFileWatcher {
  private watcher?: FSWatcher;
  private timer?: Timer;

  constructor(
    private readonly file: string,
    private readonly registry: EmbeddedRegistry,
    private readonly opts: { clock?: Clock; log?: Logger; debounceMs?: number } = {},
  ) {}

  /** First load must succeed (a broken file at start-up is a configuration error). */
  async start(): Promise<void> {
    await this.load();
    const name = basename(this.file);
    // Watch the directory: editors replace files by rename, which ends a watch on the file itself.
    this.watcher = watch(dirname(this.file), (_ev, f) => {
      if (f && f.toString() !== name) return;
      this.timer?.cancel();
      this.timer = (this.opts.clock ?? systemClock).setTimeout(() => void this.reload(), this.opts.debounceMs ?? 100);
    });
  }

  async load(): Promise<void> {
    const text = await readFile(this.file, 'utf8');
    if (text.length > MAX_FILE_BYTES) throw new Error(`services file ${this.file} is larger than ${MAX_FILE_BYTES} bytes`);
    this.registry.setStaticEntries(parseServicesFile(text, this.file));
  }

  private async reload(): Promise<void> {
    try {
      await this.load();
      this.opts.log?.info('services file reloaded', { file: this.file });
    } catch (e) {
      this.opts.log?.error('services file rejected; keeping the last good one', { file: this.file, error: e as Error });
    }
  }

  close(): void {
    this.timer?.cancel();
    this.watcher?.close();
  }
}
