// CustomResourceDefinitions for tsmesh's own kinds, with OpenAPI v3 schemas
// mirroring control-plane/policy's validation so `kubectl apply` rejects the
// same mistakes (the control plane still validates fully: cross-field rules,
// regexes, references). HTTPRoute and GRPCRoute come from the Gateway API
// CRDs (install them from gateway-api's standard channel).

type Schema = Record<string, unknown>;

const str = (extra: Schema = {}): Schema => ({ type: 'string', ...extra });
const int = (minimum?: number, maximum?: number): Schema => ({ type: 'integer', ...(minimum !== undefined ? { minimum } : {}), ...(maximum !== undefined ? { maximum } : {}) });
const num = (minimum: number, maximum: number): Schema => ({ type: 'number', minimum, maximum });
const bool = (): Schema => ({ type: 'boolean' });
const obj = (properties: Record<string, Schema>, required: string[] = []): Schema => ({ type: 'object', properties, ...(required.length ? { required } : {}) });
const arr = (items: Schema, maxItems?: number): Schema => ({ type: 'array', items, ...(maxItems ? { maxItems } : {}) });
const enumOf = (...values: string[]): Schema => ({ type: 'string', enum: values });
/** Gateway API durations ("1h30m", "500ms"). */
const duration = (): Schema => str({ pattern: '^([0-9]+(\\.[0-9]+)?(h|m|s|ms|us|µs|ns))+$|^0$', maxLength: 64 });
const name = (): Schema => str({ minLength: 1, maxLength: 253 });
const ref = (kinds: string[]): Schema =>
  obj({ group: str({ maxLength: 253 }), kind: enumOf(...kinds), name: name(), namespace: str({ maxLength: 63 }) }, ['name']);
const nameValueMatch = (): Schema => obj({ type: enumOf('Exact', 'RegularExpression'), name: str({ minLength: 1, maxLength: 256 }), value: str({ maxLength: 4096 }) }, ['name', 'value']);

const destinationPolicy = obj(
  {
    targetRef: ref(['Service', 'ServiceEntry']),
    loadBalancer: obj({
      type: enumOf('PEAK_EWMA', 'ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH'),
      choiceCount: int(2, 100),
      hashKey: obj({ header: str({ maxLength: 256 }), cookie: str({ maxLength: 256 }), queryParam: str({ maxLength: 256 }), sourceIp: bool() }),
    }),
    connectionPool: obj({
      maxConnections: int(1),
      maxPendingRequests: int(1),
      maxRequests: int(1),
      maxRetries: int(0),
      connectTimeout: duration(),
      idleTimeout: duration(),
      maxRequestsPerConnection: int(1),
      h2UpgradePolicy: enumOf('DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE'),
      useClientProtocol: bool(),
    }),
    outlierDetection: obj({
      consecutive5xxErrors: int(0, 1000),
      consecutiveGatewayErrors: int(0, 1000),
      interval: duration(),
      baseEjectionTime: duration(),
      maxEjectionTime: duration(),
      maxEjectionPercent: int(0, 100),
    }),
    retryBudget: obj({ percent: int(0, 100), interval: duration(), minRetryRate: obj({ count: int(0, 1_000_000), interval: duration() }, ['count', 'interval']) }),
    tls: obj(
      { mode: enumOf('ISTIO_MUTUAL', 'DISABLE', 'SIMPLE'), sni: str({ maxLength: 253 }), caCertificates: str({ maxLength: 1024 }), subjectAltNames: { type: 'array', maxItems: 16, items: str({ maxLength: 253 }) } },
      ['mode'],
    ),
  },
  ['targetRef'],
);

const authorizationPolicy = obj({
  selector: obj({ matchLabels: { type: 'object', additionalProperties: str() } }),
  targetRef: ref(['Service']),
  action: enumOf('ALLOW', 'DENY'),
  rules: arr(
    obj({
      from: arr(obj({ source: obj({ principals: arr(str(), 64), notPrincipals: arr(str(), 64), namespaces: arr(str(), 64), notNamespaces: arr(str(), 64) }) })),
      to: arr(
        obj({
          operation: obj({
            hosts: arr(str(), 64),
            notHosts: arr(str(), 64),
            paths: arr(str({ pattern: '^(/[^\\s*]*\\*?|\\*[^\\s*]*)$' }), 64),
            notPaths: arr(str({ pattern: '^(/[^\\s*]*\\*?|\\*[^\\s*]*)$' }), 64),
            methods: arr(str(), 16),
            notMethods: arr(str(), 16),
          }),
        }),
      ),
      when: arr(obj({ key: str({ minLength: 1, maxLength: 256 }), values: arr(str(), 64), notValues: arr(str(), 64) }, ['key']), 16),
    }),
    64,
  ),
});

const mtlsMode = obj({ mode: enumOf('STRICT', 'PERMISSIVE') }, ['mode']);
const peerAuthentication = obj({
  selector: obj({ matchLabels: { type: 'object', additionalProperties: str() } }),
  mtls: mtlsMode,
  portLevelMtls: { type: 'object', additionalProperties: mtlsMode },
});

const routeOrServiceRef = obj(
  { group: str({ maxLength: 253 }), kind: enumOf('HTTPRoute', 'GRPCRoute', 'Service'), name: name(), sectionName: str({ maxLength: 253 }) },
  ['kind', 'name'],
);
const percentage = num(0, 100);
const faultPolicy = obj(
  {
    targetRef: routeOrServiceRef,
    delay: obj({ fixedDelay: duration(), percentage }, ['fixedDelay']),
    abort: obj({ httpStatus: int(200, 599), grpcStatus: int(0, 16), percentage }),
    headers: arr(nameValueMatch(), 16),
  },
  ['targetRef'],
);

const rateLimitPolicy = obj(
  {
    targetRef: obj({ group: str({ maxLength: 253 }), kind: enumOf('Service'), name: name() }, ['kind', 'name']),
    local: obj({ requests: int(1, 1_000_000_000), unit: enumOf('Second', 'Minute', 'Hour'), burst: int(1, 1_000_000_000) }, ['requests']),
  },
  ['targetRef', 'local'],
);

const meshConfig = obj({
  trustDomain: str({ pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', maxLength: 255 }),
  certificateTtl: duration(),
  mtls: obj({ mode: enumOf('STRICT', 'PERMISSIVE') }),
  defaultDeny: bool(),
  outboundTrafficPolicy: obj({ mode: enumOf('ALLOW_ANY', 'REGISTRY_ONLY') }),
  tracing: obj({ randomSamplingPercentage: num(0, 100) }, ['randomSamplingPercentage']),
  accessLogFile: enumOf('', '/dev/stdout', '/dev/stderr'),
  accessLogEncoding: enumOf('TEXT', 'JSON'),
  accessLogFormat: str(),
  dnsRefreshRate: duration(),
});

const backend = obj({ name: name(), port: int(1, 65535) }, ['name']);
const canary = obj(
  {
    targetRef: ref(['HTTPRoute', 'GRPCRoute']),
    service: name(),
    stableBackend: backend,
    canaryBackend: backend,
    steps: arr(int(0, 100), 100),
    stepWeight: int(1, 100),
    maxWeight: int(1, 100),
    interval: duration(),
    analysis: obj({ successRate: num(0, 100), p99: duration(), failureLimit: int(1, 100), mismatchRate: num(0, 100) }),
    mirror: obj({ duration: duration(), compareBody: bool() }, ['duration']),
    match: arr(nameValueMatch(), 16),
  },
  ['targetRef', 'service', 'stableBackend', 'canaryBackend', 'interval'],
);

const canaryStatus = obj({
  phase: str(),
  weight: int(0, 100),
  failedChecks: int(0),
  message: str(),
  lastTransitionTime: str({ format: 'date-time' }),
});

interface KindDef {
  kind: string;
  plural: string;
  shortNames: string[];
  spec: Schema;
  status?: Schema;
  columns?: { name: string; type: string; jsonPath: string }[];
}

export const TSMESH_KINDS: KindDef[] = [
  { kind: 'DestinationPolicy', plural: 'destinationpolicies', shortNames: ['dp'], spec: destinationPolicy, columns: [{ name: 'Target', type: 'string', jsonPath: '.spec.targetRef.name' }] },
  { kind: 'AuthorizationPolicy', plural: 'authorizationpolicies', shortNames: ['tsap'], spec: authorizationPolicy, columns: [{ name: 'Action', type: 'string', jsonPath: '.spec.action' }] },
  { kind: 'PeerAuthentication', plural: 'peerauthentications', shortNames: ['tspa'], spec: peerAuthentication, columns: [{ name: 'Mode', type: 'string', jsonPath: '.spec.mtls.mode' }] },
  { kind: 'FaultPolicy', plural: 'faultpolicies', shortNames: ['fp'], spec: faultPolicy, columns: [{ name: 'Target', type: 'string', jsonPath: '.spec.targetRef.name' }] },
  { kind: 'RateLimitPolicy', plural: 'ratelimitpolicies', shortNames: ['rlp'], spec: rateLimitPolicy, columns: [{ name: 'Target', type: 'string', jsonPath: '.spec.targetRef.name' }, { name: 'Requests', type: 'integer', jsonPath: '.spec.local.requests' }, { name: 'Per', type: 'string', jsonPath: '.spec.local.unit' }] },
  { kind: 'MeshConfig', plural: 'meshconfigs', shortNames: ['mc'], spec: meshConfig, columns: [{ name: 'mTLS', type: 'string', jsonPath: '.spec.mtls.mode' }] },
  {
    kind: 'Canary',
    plural: 'canaries',
    shortNames: ['can'],
    spec: canary,
    status: canaryStatus,
    columns: [
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Weight', type: 'integer', jsonPath: '.status.weight' },
    ],
  },
];

export const TSMESH_GROUP = 'tsmesh.io';
export const TSMESH_VERSION = 'v1alpha1';

export function crdManifests(): Record<string, unknown>[] {
  return TSMESH_KINDS.map((k) => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${k.plural}.${TSMESH_GROUP}`, labels: { 'app.kubernetes.io/part-of': 'tsmesh' } },
    spec: {
      group: TSMESH_GROUP,
      scope: 'Namespaced',
      names: { kind: k.kind, listKind: `${k.kind}List`, plural: k.plural, singular: k.kind.toLowerCase(), shortNames: k.shortNames, categories: ['tsmesh'] },
      versions: [
        {
          name: TSMESH_VERSION,
          served: true,
          storage: true,
          ...(k.status ? { subresources: { status: {} } } : {}),
          additionalPrinterColumns: [...(k.columns ?? []), { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }],
          schema: { openAPIV3Schema: obj({ apiVersion: str(), kind: str(), metadata: { type: 'object' }, spec: k.spec, ...(k.status ? { status: k.status } : {}) }, ['spec']) },
        },
      ],
    },
  }));
}
