import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { renderInstallManifests, webhookCaBundlePatch } from './render.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const golden = join(dir, 'install.golden.yaml');
const docs = (text: string) => parseAllDocuments(text).map((d) => (d as any).toJS());

describe('renderInstallManifests', () => {
  it('matches the golden manifests', () => {
    const out = renderInstallManifests();
    if (process.env.UPDATE_GOLDEN === '1' || !existsSync(golden)) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(golden, out);
    }
    expect(out).toBe(readFileSync(golden, 'utf8'));
  });

  it('every document parses and has apiVersion, kind and metadata.name', () => {
    const all = docs(renderInstallManifests({ namespace: 'mesh', replicas: 3 }));
    expect(all.length).toBeGreaterThan(10);
    for (const d of all) {
      expect(typeof d.apiVersion).toBe('string');
      expect(typeof d.kind).toBe('string');
      expect(d.metadata.name).toMatch(/^[a-z0-9.-]+$/);
    }
    const kinds = all.map((d) => d.kind);
    for (const k of ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'Deployment', 'Service', 'MutatingWebhookConfiguration', 'PodDisruptionBudget']) {
      expect(kinds).toContain(k);
    }
    expect(all.filter((d) => d.kind === 'CustomResourceDefinition').map((d) => d.spec.names.kind)).toEqual(['DestinationPolicy', 'AuthorizationPolicy', 'PeerAuthentication', 'FaultPolicy', 'RateLimitPolicy', 'MeshConfig', 'Canary']);
    // namespaced objects land in the chosen namespace; the webhook points at its Service
    for (const d of all.filter((d) => ['ServiceAccount', 'Deployment', 'Service', 'Role'].includes(d.kind))) expect(d.metadata.namespace).toBe('mesh');
    const mwc = all.find((d) => d.kind === 'MutatingWebhookConfiguration');
    expect(mwc.webhooks[0].clientConfig.service).toEqual({ name: 'tsmesh-control-plane', namespace: 'mesh', path: '/inject', port: 443 });
    expect(mwc.webhooks[0].namespaceSelector).toEqual({ matchLabels: { 'tsmesh.io/injection': 'enabled' } });
    expect(all.find((d) => d.kind === 'Deployment').spec.replicas).toBe(3);
  });

  it('fills caBundle when given, and offers the patch the control plane applies at start', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const mwc = docs(renderInstallManifests({ caBundlePem: pem })).find((d) => d.kind === 'MutatingWebhookConfiguration');
    expect(Buffer.from(mwc.webhooks[0].clientConfig.caBundle, 'base64').toString()).toBe(pem);
    expect(webhookCaBundlePatch(pem)[0]!.path).toBe('/webhooks/0/clientConfig/caBundle');
  });

  it('rejects bad options naming the field', () => {
    expect(() => renderInstallManifests({ namespace: 'Bad_NS', replicas: 0 })).toThrow(/namespace: "Bad_NS".*\n.*replicas/s);
  });

  it('CRD schemas are structural (every property typed), as apiextensions/v1 requires', () => {
    const crds = docs(renderInstallManifests()).filter((d) => d.kind === 'CustomResourceDefinition');
    for (const crd of crds) {
      const schema = crd.spec.versions[0].schema.openAPIV3Schema;
      expect(schema.type).toBe('object');
      // structural schema: every property has a type
      const walk = (s: any, path: string): void => {
        expect(s.type, path).toBeDefined();
        for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, `${path}.${k}`);
        if (s.items) walk(s.items, `${path}[]`);
      };
      walk(schema, crd.metadata.name);
    }
  });
});
