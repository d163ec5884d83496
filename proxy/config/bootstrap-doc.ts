// The bootstrap document (bootstrap.ts reads it from YAML, bootstrap-json.ts
// from JSON): the proxy's identity, its admin address and (optionally) a whole
// static configuration, so it runs with no control plane. Field names are
// those of resources.ts. Every problem is reported at once with file:line and
// field path; nothing is half-applied. No YAML parser here: a JSON bootstrap
// does not load one.

import { dirname } from 'node:path';
import { Reader } from '../../common/reader.js';
import { formatPath } from '../../common/path-format.js';
import type { SourceDoc } from '../../common/yaml-source.js';
import type { AccessLogOptions, TracingOptions } from '../telemetry/index.js';
import { MAX_QUEUED_SPANS } from '../telemetry/tracing.js';
import { DEFAULT_JSON_FORMAT, ISTIO_TEXT_FORMAT } from '../telemetry/log-format.js';
import { LOG_FORMAT_KEYS, readLogFormat } from './read-log-format.js';
import { OTLP_PROTOCOLS, type OtlpProtocol } from '../telemetry/otel-sdk.js';
import { checkSnapshot, type Locate } from './check.js';
import { DEFAULT_ADMIN_PORT, DEFAULT_DRAIN_TIMEOUT_MS } from './defaults.js';
import { metadataMap, socketAddress, strict } from './read-common.js';
import { readCluster, readLoadAssignment, readSecret } from './read-cluster.js';
import { readListener } from './read-listener.js';
import { readRouteConfiguration } from './read-route.js';
import type { AccessLogFormat, ConfigSnapshot, NodeInfo, ResourceKind, SocketAddress } from './resources.js';

export interface AdsConfig {
  address: SocketAddress;
  /** Reconnect backoff start; grows to maxBackoff. */
  initialBackoff: number;
  maxBackoff: number;
  /** How long a referenced route, endpoint set or secret is waited for before a config applies without it (0 = for ever). */
  initialFetchTimeout?: number;
  /** PEM root(s) the control plane's serving certificate (and the mesh) chain to; absent = plaintext xDS. */
  caRootFile?: string;
  /** Bootstrap token (or projected service-account token) file, re-read per call: CA and xDS authentication. */
  tokenFile?: string;
  /** TLS name to verify the control plane as (default: the address host, or localhost for an IP). */
  serverName?: string;
  /** Last good config for fail-static boots. */
  persistPath?: string;
  protocol?: 'sotw' | 'delta';
  /** Requested workload certificate lifetime (0 = the CA's default). */
  certificateTtl?: number;
  /** Extra node metadata sent to the control plane (Istio-style keys: INBOUND_ADDRESSES, APP_PORT, SERVICE_PORT, PROTOCOL, …). */
  nodeMetadata?: Record<string, string>;
}

export interface Bootstrap {
  node: NodeInfo;
  admin: { address: SocketAddress };
  /** The Prometheus port (Istio's 0.0.0.0:15090): only GET /stats/prometheus, reachable from other pods. */
  metrics?: { address: SocketAddress };
  snapshot: ConfigSnapshot;
  dynamicResources?: { ads: AdsConfig };
  tracing?: TracingOptions;
  accessLog?: AccessLogOptions;
  drainTimeout: number;
}

/** The key each resource kind has under staticResources. */
const STATIC_KEYS: Record<ResourceKind, string> = {
  listener: 'listeners',
  routeConfiguration: 'routeConfigurations',
  cluster: 'clusters',
  clusterLoadAssignment: 'clusterLoadAssignments',
  secret: 'secrets',
};

/** The bootstrap from one parsed document (YAML or JSON): every problem at once, with file:line where the document knows lines. */
export function bootstrapFromDoc(doc: SourceDoc, file?: string): Bootstrap {
  const r = Reader.of(doc);
  strict(r, ['node', 'admin', 'metrics', 'staticResources', 'dynamicResources', 'tracing', 'accessLog', 'drainTimeout'], true);
  const node = readNode(r.field('node'));
  const admin = r.field('admin');
  strict(admin, ['address']);
  const adminAddress = admin.field('address').present ? socketAddress(admin.field('address')) : { address: '127.0.0.1', port: DEFAULT_ADMIN_PORT };

  const s = r.field('staticResources');
  strict(s, Object.values(STATIC_KEYS));
  const baseDir = file ? dirname(file) : undefined;
  const maps = {
    listener: named('listener', s.field('listeners').array().map(readListener)),
    routeConfiguration: named('routeConfiguration', s.field('routeConfigurations').array().map(readRouteConfiguration)),
    cluster: named('cluster', s.field('clusters').array().map(readCluster)),
    clusterLoadAssignment: named('clusterLoadAssignment', s.field('clusterLoadAssignments').array().map((x) => readLoadAssignment(x)), (c) => c.clusterName),
    secret: named('secret', s.field('secrets').array().map((x) => readSecret(x, baseDir))),
  };
  function named<T>(kind: ResourceKind, list: T[], key = (x: T) => (x as { name: string }).name): Map<string, T> {
    const m = new Map<string, T>();
    list.forEach((x, i) => {
      const k = key(x);
      if (m.has(k)) s.field(STATIC_KEYS[kind]).array()[i]!.field('name').fail(`duplicate name "${k}"`);
      m.set(k, x);
    });
    return m;
  }

  const metrics = r.field('metrics');
  const metricsAddress = strict(metrics, ['address']) ? socketAddress(metrics.field('address')) : undefined;
  const bootstrap: Bootstrap = {
    node,
    admin: { address: adminAddress },
    ...(metricsAddress ? { metrics: { address: metricsAddress } } : {}),
    snapshot: { resources: maps, versions: { listener: 'static', routeConfiguration: 'static', cluster: 'static', clusterLoadAssignment: 'static', secret: 'static' } },
    drainTimeout: r.field('drainTimeout').duration({ min: 0, max: 3_600_000 }) ?? DEFAULT_DRAIN_TIMEOUT_MS,
  };
  const dyn = r.field('dynamicResources');
  if (strict(dyn, ['ads'])) {
    const ads = dyn.field('ads');
    strict(ads, ['address', 'initialBackoff', 'maxBackoff', 'initialFetchTimeout', 'caRootFile', 'tokenFile', 'serverName', 'persistPath', 'protocol', 'certificateTtl', 'nodeMetadata'], true);
    const cfg: AdsConfig = {
      address: socketAddress(ads.field('address')),
      initialBackoff: ads.field('initialBackoff').duration({ min: 1 }) ?? 500,
      maxBackoff: ads.field('maxBackoff').duration({ min: 1 }) ?? 30_000,
    };
    const fetchTimeout = ads.field('initialFetchTimeout').duration({ min: 0, max: 600_000 });
    if (fetchTimeout !== undefined) cfg.initialFetchTimeout = fetchTimeout;
    const rel = (f: string | undefined) => (f === undefined || !baseDir || f.startsWith('/') ? f : `${baseDir}/${f}`);
    const caRootFile = rel(ads.field('caRootFile').string());
    if (caRootFile !== undefined) cfg.caRootFile = caRootFile;
    const tokenFile = rel(ads.field('tokenFile').string());
    if (tokenFile !== undefined) cfg.tokenFile = tokenFile;
    const serverName = ads.field('serverName').string();
    if (serverName !== undefined) cfg.serverName = serverName;
    const persistPath = rel(ads.field('persistPath').string());
    if (persistPath !== undefined) cfg.persistPath = persistPath;
    const protocol = ads.field('protocol').string({ enum: ['sotw', 'delta'] });
    if (protocol !== undefined) cfg.protocol = protocol as 'sotw' | 'delta';
    const ttl = ads.field('certificateTtl').duration({ min: 1000 });
    if (ttl !== undefined) cfg.certificateTtl = ttl;
    if (ads.field('nodeMetadata').present) cfg.nodeMetadata = metadataMap(ads.field('nodeMetadata'));
    if (cfg.tokenFile !== undefined && cfg.caRootFile === undefined) ads.field('tokenFile').fail('tokenFile needs caRootFile: a token is never sent over plaintext');
    bootstrap.dynamicResources = { ads: cfg };
  }
  const tr = r.field('tracing');
  if (strict(tr, ['exporter', 'endpoint', 'protocol', 'samplingPercent', 'serviceName', 'exportDelayMs', 'exportBatchSize'])) {
    const t: TracingOptions = { exporter: (tr.field('exporter').string({ enum: ['otlp', 'console', 'none'] }) as TracingOptions['exporter']) ?? 'none' };
    const ep = tr.field('endpoint').string();
    if (ep !== undefined) t.endpoint = ep;
    const pr = tr.field('protocol').string({ enum: [...OTLP_PROTOCOLS] });
    if (pr !== undefined) t.protocol = pr as OtlpProtocol;
    const sp = tr.field('samplingPercent').number({ min: 0, max: 100 });
    if (sp !== undefined) t.samplingPercent = sp;
    const sn = tr.field('serviceName').string();
    if (sn !== undefined) t.serviceName = sn;
    const ed = tr.field('exportDelayMs').number({ min: 0 });
    if (ed !== undefined) t.exportDelayMs = ed;
    const eb = tr.field('exportBatchSize').number({ integer: true, min: 1, max: MAX_QUEUED_SPANS });
    if (eb !== undefined) t.exportBatchSize = eb;
    bootstrap.tracing = t;
  }
  const al = r.field('accessLog');
  if (strict(al, ['path', 'format', ...LOG_FORMAT_KEYS, 'flushIntervalMs', 'maxBufferedBytes'])) {
    const a: AccessLogOptions = { path: al.field('path').string({ required: true }) ?? 'stdout' };
    const format = bootstrapLogFormat(al);
    if (format !== undefined) a.format = format;
    const fi = al.field('flushIntervalMs').number({ min: 1 });
    if (fi !== undefined) a.flushIntervalMs = fi;
    const mb = al.field('maxBufferedBytes').number({ integer: true, min: 1024 });
    if (mb !== undefined) a.maxBufferedBytes = mb;
    bootstrap.accessLog = a;
  }

  // Cross-reference checks run even when fields are malformed, so one run reports everything.
  r.ctx.issues.push(...checkSnapshot(bootstrap.snapshot, { locate: locator(doc, bootstrap.snapshot) }));
  r.throwIfIssues(file ? `bootstrap ${file}` : 'bootstrap');
  return bootstrap;
}

function locator(doc: SourceDoc, snap: ConfigSnapshot): Locate {
  return (kind, name, path) => {
    const index = [...snap.resources[kind].keys()].indexOf(name);
    const full = ['staticResources', STATIC_KEYS[kind], index, ...path];
    const line = doc.lineOf(full);
    return { ...(doc.file ? { file: doc.file } : {}), ...(line ? { line } : {}), path: formatPath(full) };
  };
}

function readNode(r: Reader): NodeInfo {
  strict(r, ['id', 'cluster', 'namespace', 'serviceAccount', 'workload', 'version', 'labels', 'trustDomain'], true);
  const cluster = r.field('cluster').string({ required: true }) ?? '';
  const n: NodeInfo = {
    id: r.field('id').string({ required: true }) ?? '',
    cluster,
    namespace: r.field('namespace').string() ?? 'default',
    serviceAccount: r.field('serviceAccount').string() ?? 'default',
    workload: r.field('workload').string() ?? cluster,
    labels: metadataMap(r.field('labels')),
    trustDomain: r.field('trustDomain').string() ?? 'cluster.local',
  };
  const v = r.field('version').string();
  if (v !== undefined) n.version = v;
  return n;
}

/**
 * The bootstrap log's format: `format: json` (default: DEFAULT_JSON_FORMAT; `jsonFormat` replaces its
 * fields) or `format: text` (`textFormat`, default Istio's TEXT line), in Envoy's command operators.
 */
function bootstrapLogFormat(al: Reader): AccessLogFormat | undefined {
  const kind = (al.field('format').string({ enum: ['json', 'text'] }) ?? 'json') as 'json' | 'text';
  const f = readLogFormat(al, kind);
  if (f !== undefined) return f;
  if (kind === 'text') return { text: ISTIO_TEXT_FORMAT };
  return al.field('omitEmptyValues').value === true ? { json: { ...DEFAULT_JSON_FORMAT }, omitEmptyValues: true } : undefined;
}
