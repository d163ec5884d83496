// `meshctl install`: the Kubernetes manifests for the control plane, as one
// multi-document YAML that `kubectl apply -f` takes.

import { stringify } from 'yaml';
import { ValidationError, type ValidationIssue } from '../../common/errors.js';
import { crdManifests, TSMESH_GROUP, TSMESH_KINDS } from './crds.js';
import { tracingEndpointProblem } from '../../common/tracing-settings.js';

export interface InstallOptions {
  namespace: string;
  image: string;
  trustDomain: string;
  replicas: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** PEM of the webhook serving certificate's issuer; omitted → the control plane fills it in at start. */
  caBundlePem?: string;
  /** What the API server does when the webhook is unreachable. */
  webhookFailurePolicy: 'Fail' | 'Ignore';
  /** Namespace label that turns injection on. */
  injectionLabel: { key: string; value: string };
  includeCrds: boolean;
  /** Mesh-wide: the OTLP/HTTP traces URL every injected sidecar exports spans to (unset: no tracing). */
  tracingEndpoint?: string;
  /** Mesh-wide: percent of requests without a caller decision that start a trace (the sidecar's default: 1). */
  tracingSampling?: number;
}

export const defaultInstallOptions: InstallOptions = {
  namespace: 'tsmesh-system',
  image: 'ghcr.io/tsmesh/tsmesh:0.1.0',
  trustDomain: 'cluster.local',
  replicas: 2,
  logLevel: 'info',
  webhookFailurePolicy: 'Fail',
  injectionLabel: { key: 'tsmesh.io/injection', value: 'enabled' },
  includeCrds: true,
};

export const CONTROL_PLANE_NAME = 'tsmesh-control-plane';
export const WEBHOOK_CONFIG_NAME = 'tsmesh-sidecar-injector';
export const PORTS = { xds: 15012, monitoring: 15014, webhook: 15017 } as const;

type Obj = Record<string, unknown>;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function check(o: InstallOptions): void {
  const issues: ValidationIssue[] = [];
  if (!DNS_LABEL.test(o.namespace) || o.namespace.length > 63) issues.push({ path: 'namespace', message: `"${o.namespace}" is not a DNS label` });
  if (!o.image || /\s/.test(o.image)) issues.push({ path: 'image', message: 'must be an image reference' });
  if (!Number.isInteger(o.replicas) || o.replicas < 1 || o.replicas > 100) issues.push({ path: 'replicas', message: 'must be an integer 1-100' });
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(o.trustDomain)) issues.push({ path: 'trustDomain', message: `"${o.trustDomain}" is not a lower-case DNS-like name` });
  if (o.caBundlePem !== undefined && !o.caBundlePem.includes('-----BEGIN CERTIFICATE-----')) issues.push({ path: 'caBundlePem', message: 'is not a PEM certificate' });
  if (o.tracingEndpoint !== undefined) {
    const bad = tracingEndpointProblem(o.tracingEndpoint);
    if (bad) issues.push({ path: 'tracingEndpoint', message: bad });
  }
  if (o.tracingSampling !== undefined) {
    if (!(o.tracingSampling >= 0 && o.tracingSampling <= 100)) issues.push({ path: 'tracingSampling', message: `${o.tracingSampling} is not a percentage (0-100)` });
    else if (o.tracingEndpoint === undefined) issues.push({ path: 'tracingSampling', message: 'needs tracingEndpoint (where the spans go)' });
  }
  if (issues.length) throw new ValidationError(issues, 'install options');
}

export function installObjects(options: Partial<InstallOptions> = {}): Obj[] {
  const o: InstallOptions = { ...defaultInstallOptions, ...options };
  check(o);
  const ns = o.namespace;
  const labels = { app: CONTROL_PLANE_NAME, 'app.kubernetes.io/name': CONTROL_PLANE_NAME, 'app.kubernetes.io/part-of': 'tsmesh' };
  const meta = (name: string, namespaced = true): Obj => ({ name, ...(namespaced ? { namespace: ns } : {}), labels: { ...labels } });
  const selector = { app: CONTROL_PLANE_NAME };

  const objects: Obj[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'app.kubernetes.io/part-of': 'tsmesh' } } },
    ...(o.includeCrds ? crdManifests() : []),
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(CONTROL_PLANE_NAME) },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: meta(CONTROL_PLANE_NAME, false),
      rules: [
        { apiGroups: [''], resources: ['services', 'pods', 'namespaces', 'endpoints'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
        // the trust bundle ConfigMap (tsmesh-ca-root) published into every namespace
        { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'] },
        { apiGroups: [TSMESH_GROUP], resources: TSMESH_KINDS.map((k) => k.plural), verbs: ['get', 'list', 'watch'] },
        { apiGroups: [TSMESH_GROUP], resources: ['canaries/status'], verbs: ['get', 'update', 'patch'] },
        { apiGroups: ['gateway.networking.k8s.io'], resources: ['httproutes', 'grpcroutes'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['gateway.networking.k8s.io'], resources: ['httproutes', 'grpcroutes'], verbs: ['update', 'patch'] }, // canary weights
        // Istio's ServiceEntry, read where its CRD is installed (tsmesh does not ship Istio's CRD)
        { apiGroups: ['networking.istio.io'], resources: ['serviceentries'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['apiextensions.k8s.io'], resources: ['customresourcedefinitions'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: [WEBHOOK_CONFIG_NAME], verbs: ['get', 'update', 'patch'] },
        { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], verbs: ['list', 'watch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: meta(CONTROL_PLANE_NAME, false),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: CONTROL_PLANE_NAME },
      subjects: [{ kind: 'ServiceAccount', name: CONTROL_PLANE_NAME, namespace: ns }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta(CONTROL_PLANE_NAME),
      rules: [
        // the CA root (tsmesh-ca) and the webhook serving certificate live in Secrets here
        { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'] },
        // leader election among replicas (CA bootstrap, canary controller)
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(CONTROL_PLANE_NAME),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: CONTROL_PLANE_NAME },
      subjects: [{ kind: 'ServiceAccount', name: CONTROL_PLANE_NAME, namespace: ns }],
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(CONTROL_PLANE_NAME),
      spec: {
        replicas: o.replicas,
        selector: { matchLabels: selector },
        strategy: { rollingUpdate: { maxSurge: '100%', maxUnavailable: '25%' } },
        template: {
          metadata: { labels: { ...labels }, annotations: { 'sidecar.tsmesh.io/inject': 'false', 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(PORTS.monitoring) } },
          spec: {
            serviceAccountName: CONTROL_PLANE_NAME,
            securityContext: { runAsNonRoot: true, runAsUser: 1337, runAsGroup: 1337, fsGroup: 1337, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: 'control-plane',
                image: o.image,
                command: ['node', '/app/dist/control-plane/main.js'],
                args: ['--listen', `0.0.0.0:${PORTS.xds}`, '--state-dir', '/var/lib/tsmesh', '--log-level', o.logLevel],
                ports: [
                  { name: 'grpc-xds', containerPort: PORTS.xds, protocol: 'TCP' },
                  { name: 'http-monitoring', containerPort: PORTS.monitoring, protocol: 'TCP' },
                  { name: 'https-webhook', containerPort: PORTS.webhook, protocol: 'TCP' },
                ],
                env: [
                  { name: 'TSMESH_REGISTRY', value: 'kubernetes' },
                  { name: 'TSMESH_POLICY_STORE', value: 'kubernetes' },
                  { name: 'TSMESH_TRUST_DOMAIN', value: o.trustDomain },
                  { name: 'TSMESH_CA_SECRET', value: 'tsmesh-ca' },
                  { name: 'TSMESH_WEBHOOK_LISTEN', value: `0.0.0.0:${PORTS.webhook}` },
                  { name: 'TSMESH_WEBHOOK_CONFIG', value: WEBHOOK_CONFIG_NAME },
                  { name: 'TSMESH_WEBHOOK_SERVICE', value: `${CONTROL_PLANE_NAME}.${ns}.svc` },
                  { name: 'TSMESH_PROXY_IMAGE', value: o.image },
                  { name: 'TSMESH_CONTROL_PLANE_ADDRESS', value: `${CONTROL_PLANE_NAME}.${ns}.svc:${PORTS.xds}` },
                  { name: 'TSMESH_TOKEN_AUDIENCE', value: 'tsmesh-ca' },
                  // Passed on by the injector to every sidecar (TSMESH_TRACING_* in the proxy's environment).
                  ...(o.tracingEndpoint ? [{ name: 'TSMESH_TRACING_ENDPOINT', value: o.tracingEndpoint }] : []),
                  ...(o.tracingEndpoint && o.tracingSampling !== undefined ? [{ name: 'TSMESH_TRACING_SAMPLING', value: String(o.tracingSampling) }] : []),
                  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                ],
                readinessProbe: { tcpSocket: { port: PORTS.xds }, periodSeconds: 3 },
                livenessProbe: { tcpSocket: { port: PORTS.xds }, initialDelaySeconds: 10, periodSeconds: 10 },
                resources: { requests: { cpu: '200m', memory: '256Mi' }, limits: { memory: '1Gi' } },
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
                volumeMounts: [{ name: 'state', mountPath: '/var/lib/tsmesh' }],
              },
            ],
            volumes: [{ name: 'state', emptyDir: {} }],
          },
        },
      },
    },
    ...(o.replicas > 1
      ? [{ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: meta(CONTROL_PLANE_NAME), spec: { minAvailable: 1, selector: { matchLabels: selector } } }]
      : []),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(CONTROL_PLANE_NAME),
      spec: {
        selector,
        ports: [
          { name: 'grpc-xds', port: PORTS.xds, targetPort: PORTS.xds, protocol: 'TCP' },
          { name: 'http-monitoring', port: PORTS.monitoring, targetPort: PORTS.monitoring, protocol: 'TCP' },
          { name: 'https-webhook', port: 443, targetPort: PORTS.webhook, protocol: 'TCP' },
        ],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: WEBHOOK_CONFIG_NAME, labels: { ...labels } },
      webhooks: [
        {
          name: 'sidecar-injector.tsmesh.io',
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: o.webhookFailurePolicy,
          reinvocationPolicy: 'IfNeeded',
          timeoutSeconds: 10,
          clientConfig: {
            service: { name: CONTROL_PLANE_NAME, namespace: ns, path: '/inject', port: 443 },
            ...(o.caBundlePem ? { caBundle: Buffer.from(o.caBundlePem).toString('base64') } : {}),
          },
          rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
          namespaceSelector: { matchLabels: { [o.injectionLabel.key]: o.injectionLabel.value } },
          objectSelector: { matchExpressions: [{ key: 'sidecar.tsmesh.io/inject', operator: 'NotIn', values: ['false'] }] },
        },
      ],
    },
  ];
  return objects;
}

/** The manifests as one multi-document YAML for `kubectl apply -f -`. */
export function renderInstallManifests(options: Partial<InstallOptions> = {}): string {
  const header = '# tsmesh control plane. Apply with: kubectl apply --server-side -f <this file>\n';
  return header + installObjects(options).map((o) => stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');
}

/** JSON patch that sets the webhook's caBundle (for the control plane at start, or `meshctl install --ca-bundle`). */
export function webhookCaBundlePatch(caBundlePem: string): { op: 'add'; path: string; value: string }[] {
  return [{ op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: Buffer.from(caBundlePem).toString('base64') }];
}
