// /config_dump: every active resource grouped by type, with its type URL and
// version, names sorted so the output is stable for meshctl and for diffs.
// Private keys never leave the process: any field named like a private key is
// replaced, whatever resource it sits in.

import { TYPE_URLS, type ConfigSnapshot, type NodeInfo, type ResourceKind } from '../config/resources.js';

export const REDACTED = '[redacted]';

export interface ConfigDumpSection {
  '@type': string;
  kind: ResourceKind;
  version: string;
  resources: { name: string; resource: unknown }[];
}

export interface ConfigDump {
  node: NodeInfo;
  configs: ConfigDumpSection[];
}

const KINDS = Object.keys(TYPE_URLS) as ResourceKind[];

export function isResourceKind(v: string): v is ResourceKind {
  return (KINDS as string[]).includes(v);
}

export function buildConfigDump(node: NodeInfo, snapshot: ConfigSnapshot, only?: ResourceKind): ConfigDump {
  const configs: ConfigDumpSection[] = [];
  for (const kind of KINDS) {
    if (only !== undefined && kind !== only) continue;
    const map = snapshot.resources[kind] as ReadonlyMap<string, unknown>;
    const names = [...map.keys()].sort();
    configs.push({
      '@type': TYPE_URLS[kind],
      kind,
      version: snapshot.versions[kind] ?? '',
      resources: names.map((name) => ({ name, resource: map.get(name) })),
    });
  }
  return { node, configs };
}

/** JSON text with private keys redacted and Maps/Sets/RegExps/bigints made representable. */
export function stringifyRedacted(value: unknown): string {
  return JSON.stringify(value, redact, 2);
}

function redact(key: string, value: unknown): unknown {
  if (key !== '' && /private_?key/i.test(key)) return value === undefined || value === '' ? value : REDACTED;
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  if (value instanceof RegExp) return value.source;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string' && value.includes('PRIVATE KEY-----')) return REDACTED;
  return value;
}
