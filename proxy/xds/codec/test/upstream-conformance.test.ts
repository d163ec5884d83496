// Our trimmed protos must be a strict subset of Envoy's: every message, field
// (name, number, type, label) and enum value we define must exist upstream
// unchanged. The upstream .proto files come from @grpc/grpc-js-xds's vendored
// copy of envoyproxy/data-plane-api (node_modules), so this runs offline.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { xdsRoot } from '../../proto-root.js';

const require = createRequire(import.meta.url);
const deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const includeDirs = ['envoy-api', 'googleapis', 'protoc-gen-validate', 'xds'].map((d) => join(deps, d));

const UPSTREAM_FILES = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/config/rbac/v3/rbac.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/network/dns_resolver/cares/v3/cares_dns_resolver.proto',
  'envoy/extensions/network/dns_resolver/getaddrinfo/v3/getaddrinfo_dns_resolver.proto',
  'envoy/type/v3/token_bucket.proto',
  'google/rpc/status.proto',
];

function loadUpstream(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    const idx = target.lastIndexOf('google/protobuf/');
    if (idx >= 0) {
      const wkt = target.slice(idx);
      // protobufjs bundles the common well-known types but not descriptor.proto (used by annotations).
      return wkt === 'google/protobuf/descriptor.proto' ? require.resolve('protobufjs/google/protobuf/descriptor.proto') : wkt;
    }
    for (const d of includeDirs) if (existsSync(join(d, target))) return join(d, target);
    return target;
  };
  root.loadSync(UPSTREAM_FILES, { keepCase: true });
  root.resolveAll();
  return root;
}

function* walk(ns: protobuf.NamespaceBase): Generator<protobuf.Type | protobuf.Enum> {
  for (const o of ns.nestedArray) {
    if (o instanceof protobuf.Type) yield o;
    if (o instanceof protobuf.Enum) yield o;
    if (o instanceof protobuf.Namespace || o instanceof protobuf.Type) yield* walk(o);
  }
}

describe('proto/ is a subset of upstream Envoy', () => {
  it('every message, field number, type and enum value matches data-plane-api', () => {
    const upstream = loadUpstream();
    const ours = xdsRoot();
    const problems: string[] = [];
    let fields = 0;
    for (const pkg of ['envoy', 'google.rpc']) {
      for (const t of walk(ours.lookup(pkg) as protobuf.Namespace)) {
        const name = t.fullName.slice(1);
        const up = upstream.lookup(name);
        if (!up) {
          problems.push(`${name}: not upstream`);
          continue;
        }
        if (t instanceof protobuf.Enum) {
          for (const [k, v] of Object.entries(t.values)) if ((up as protobuf.Enum).values[k] !== v) problems.push(`${name}.${k} = ${v}: upstream ${(up as protobuf.Enum).values[k]}`);
          continue;
        }
        for (const f of t.fieldsArray) {
          fields++;
          const uf = (up as protobuf.Type).fields[f.name];
          if (!uf) problems.push(`${name}.${f.name}: no such upstream field`);
          else {
            if (uf.id !== f.id) problems.push(`${name}.${f.name} = ${f.id}: upstream ${uf.id}`);
            const ty = (x: protobuf.Field) => (x.resolvedType ? x.resolvedType.fullName : x.type) + (x.repeated ? '[]' : '') + (x.map ? `map<${(x as protobuf.MapField).keyType}>` : '');
            if (ty(uf) !== ty(f)) problems.push(`${name}.${f.name}: type ${ty(f)}, upstream ${ty(uf)}`);
            if ((uf.partOf?.name ?? null) !== (f.partOf?.name ?? null)) problems.push(`${name}.${f.name}: oneof ${f.partOf?.name}, upstream ${uf.partOf?.name}`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
    expect(fields).toBeGreaterThan(300);
  });
});
