// Loads tsmesh's trimmed xDS protos (proto/ at the repository root) into one
// protobufjs Root. The files keep Envoy's package names, message names and
// field numbers, so bytes produced here decode in Envoy and gRPC's xDS clients.
// Field names stay snake_case (keepCase) exactly as on the wire.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const FILES = [
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'envoy/extensions/network/dns_resolver/cares/v3/cares_dns_resolver.proto',
  'envoy/extensions/network/dns_resolver/getaddrinfo/v3/getaddrinfo_dns_resolver.proto',
  'tsmesh/lb/v1/peak_ewma.proto',
];

/** The proto/ directory: found by walking up from this module (works from source and from dist/). */
export function protoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'proto', 'envoy'))) return join(dir, 'proto');
    dir = dirname(dir);
  }
  throw new Error('proto/ directory with the xDS protos not found above ' + fileURLToPath(import.meta.url));
}

let root: protobuf.Root | undefined;

export function xdsRoot(): protobuf.Root {
  if (root) return root;
  const dir = protoDir();
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => {
    const idx = target.lastIndexOf('google/protobuf/');
    if (idx >= 0) return target.slice(idx); // bundled well-known types
    return join(dir, target);
  };
  r.loadSync(FILES, { keepCase: true });
  r.resolveAll();
  root = r;
  return r;
}

const types = new Map<string, protobuf.Type>();

/** A message type by its full name, e.g. `envoy.config.cluster.v3.Cluster`. */
export function messageType(fullName: string): protobuf.Type {
  let t = types.get(fullName);
  if (!t) {
    t = xdsRoot().lookupType(fullName);
    types.set(fullName, t);
  }
  return t;
}

export const TYPE_URL_PREFIX = 'type.googleapis.com/';

/** Options for turning wire messages into plain objects: Any expanded to `@type` form, enums as names. */
export const TO_OBJECT: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  bytes: String,
  defaults: false,
  oneofs: false,
  json: true,
};
