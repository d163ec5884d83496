// Secret (SDS) and the TLS contexts of listeners (downstream) and clusters
// (upstream). Certificates are always referenced by SDS name over ADS, the way
// Istio does it: `default` for the workload certificate, `ROOTCA` for the roots.

import { MeshError } from '../../../common/errors.js';
import type { Reader } from '../../../common/reader.js';
import type { DownstreamTlsContext, Secret, StringMatcher, TlsParams, UpstreamTlsContext } from '../../config/resources.js';
import { ADS_SOURCE, readBoolValue, readStringMatcher, stringMatcher, T, type PObj } from './wire.js';

const PEM_LIMIT = 256 * 1024;

export function encodeSecret(s: Secret): PObj {
  const o: PObj = { name: s.name };
  if (s.tlsCertificate && s.validationContext) throw new MeshError('MESH_XDS_ENCODE', `secret ${s.name}: tlsCertificate and validationContext are exclusive in xDS`);
  if (s.tlsCertificate) {
    o.tls_certificate = {
      certificate_chain: { inline_string: s.tlsCertificate.certificateChain },
      private_key: { inline_string: s.tlsCertificate.privateKey },
    };
  }
  if (s.validationContext) o.validation_context = { trusted_ca: { inline_string: s.validationContext.trustedCa } };
  return o;
}

function readDataSource(r: Reader): string | undefined {
  if (!r.object(true)) return undefined;
  if (r.field('inline_string').present) return r.field('inline_string').string({ required: true, maxLength: PEM_LIMIT });
  if (r.field('inline_bytes').present) {
    const b64 = r.field('inline_bytes').string({ required: true, maxLength: PEM_LIMIT * 2 });
    return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
  }
  return r.fail('only inline_string or inline_bytes data sources are supported');
}

export function decodeSecret(r: Reader): Secret | undefined {
  const name = r.field('name').string({ required: true, maxLength: 256 });
  const s: Secret = { name: name ?? '' };
  const tc = r.field('tls_certificate');
  if (tc.object()) {
    const certificateChain = readDataSource(tc.field('certificate_chain'));
    const privateKey = tc.field('private_key').present ? readDataSource(tc.field('private_key')) : '';
    s.tlsCertificate = { certificateChain: certificateChain ?? '', privateKey: privateKey ?? '' };
  }
  const vc = r.field('validation_context');
  if (vc.object()) s.validationContext = { trustedCa: readDataSource(vc.field('trusted_ca')) ?? '' };
  if (!s.tlsCertificate && !s.validationContext) r.fail('secret must hold tls_certificate or validation_context');
  return name === undefined ? undefined : s;
}

// ------------------------------------------------------------- contexts

function sds(name: string): PObj {
  return { name, sds_config: ADS_SOURCE };
}

function commonTlsContext(c: {
  certificateSecret?: string;
  validationSecret?: string;
  matchSubjectAltNames: StringMatcher[];
  matchDnsSubjectAltNames?: string[];
  alpnProtocols: string[];
  params: TlsParams;
}): PObj {
  const o: PObj = {
    tls_params: { tls_minimum_protocol_version: c.params.minVersion === 'TLSv1.3' ? 'TLSv1_3' : 'TLSv1_2' },
  };
  if (c.certificateSecret) o.tls_certificate_sds_secret_configs = [sds(c.certificateSecret)];
  if (c.validationSecret) {
    o.combined_validation_context = {
      default_validation_context: {
        match_typed_subject_alt_names: [
          ...c.matchSubjectAltNames.map((m) => ({ san_type: 'URI', matcher: stringMatcher(m) })),
          ...(c.matchDnsSubjectAltNames ?? []).map((exact) => ({ san_type: 'DNS', matcher: { exact } })),
        ],
      },
      validation_context_sds_secret_config: sds(c.validationSecret),
    };
  }
  if (c.alpnProtocols.length) o.alpn_protocols = [...c.alpnProtocols];
  return o;
}

interface CommonDecoded {
  certificateSecret?: string;
  validationSecret?: string;
  matchSubjectAltNames: StringMatcher[];
  matchDnsSubjectAltNames: string[];
  alpnProtocols: string[];
  params: TlsParams;
}

function readSdsName(r: Reader): string | undefined {
  if (!r.object(true)) return undefined;
  return r.field('name').string({ required: true, maxLength: 256 });
}

function readCommonTlsContext(r: Reader): CommonDecoded {
  const out: CommonDecoded = { matchSubjectAltNames: [], matchDnsSubjectAltNames: [], alpnProtocols: [], params: { minVersion: 'TLSv1.2' } };
  const min = r.field('tls_params').field('tls_minimum_protocol_version').string();
  if (min === 'TLSv1_3') out.params = { minVersion: 'TLSv1.3' };
  else if (min === 'TLSv1_0' || min === 'TLSv1_1') r.field('tls_params').field('tls_minimum_protocol_version').fail('TLS versions below 1.2 are not supported');
  const certs = r.field('tls_certificate_sds_secret_configs').array();
  if (certs.length > 1) r.field('tls_certificate_sds_secret_configs').fail('at most one certificate is supported');
  if (certs[0]) out.certificateSecret = readSdsName(certs[0]);
  if (r.field('tls_certificates').present) r.field('tls_certificates').fail('inline certificates are not supported; use SDS');
  const combined = r.field('combined_validation_context');
  if (combined.object()) {
    out.validationSecret = readSdsName(combined.field('validation_context_sds_secret_config'));
    const sans = combined.field('default_validation_context').field('match_typed_subject_alt_names').array();
    for (const s of sans) {
      const type = s.field('san_type').string();
      if (type === 'DNS') {
        // A server outside the mesh, by host name: exact names (a wildcard certificate still matches them).
        const exact = s.field('matcher').field('exact').string({ required: true, maxLength: 253 });
        if (exact !== undefined) out.matchDnsSubjectAltNames.push(exact);
        continue;
      }
      if (type !== 'URI') s.field('san_type').fail('only URI SANs (SPIFFE IDs) and DNS names (exact) are supported');
      const m = readStringMatcher(s.field('matcher'));
      if (m) out.matchSubjectAltNames.push(m);
    }
    if (out.matchDnsSubjectAltNames.length && out.matchSubjectAltNames.length) {
      combined.field('default_validation_context').field('match_typed_subject_alt_names').fail('URI (SPIFFE) and DNS matchers cannot be mixed: a server is identified one way');
    }
  } else if (r.field('validation_context_sds_secret_config').present) {
    out.validationSecret = readSdsName(r.field('validation_context_sds_secret_config'));
  } else if (r.field('validation_context').present) {
    r.field('validation_context').fail('inline validation contexts are not supported; use SDS');
  }
  out.alpnProtocols = r.field('alpn_protocols').array().map((a) => a.string({ required: true, maxLength: 64 }) ?? '');
  return out;
}

export function encodeDownstreamTls(c: DownstreamTlsContext): PObj {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': T.downstreamTls,
      common_tls_context: commonTlsContext(c),
      require_client_certificate: { value: c.requireClientCertificate },
    },
  };
}

export function decodeDownstreamTls(r: Reader): DownstreamTlsContext | undefined {
  const tc = r.field('typed_config');
  if (tc.field('@type').value !== T.downstreamTls) return tc.fail(`transport socket must be ${T.downstreamTls}`);
  const common = readCommonTlsContext(tc.field('common_tls_context'));
  const requireClientCertificate = readBoolValue(tc.field('require_client_certificate')) ?? false;
  if (!common.certificateSecret) tc.field('common_tls_context').fail('a server certificate (tls_certificate_sds_secret_configs) is required');
  if (requireClientCertificate && !common.validationSecret) tc.field('common_tls_context').fail('require_client_certificate needs a validation context');
  if (common.matchDnsSubjectAltNames.length) tc.field('common_tls_context').fail('DNS SAN matchers identify servers outside the mesh (upstream TLS); clients are identified by SPIFFE ID');
  const out: DownstreamTlsContext = {
    certificateSecret: common.certificateSecret ?? '',
    requireClientCertificate,
    matchSubjectAltNames: common.matchSubjectAltNames,
    alpnProtocols: common.alpnProtocols,
    params: common.params,
  };
  if (common.validationSecret) out.validationSecret = common.validationSecret;
  return out;
}

export function encodeUpstreamTls(c: UpstreamTlsContext): PObj {
  const o: PObj = { '@type': T.upstreamTls, common_tls_context: commonTlsContext(c) };
  if (c.sni) o.sni = c.sni;
  return { name: 'envoy.transport_sockets.tls', typed_config: o };
}

export function decodeUpstreamTls(r: Reader): UpstreamTlsContext | undefined {
  const tc = r.field('typed_config');
  if (tc.field('@type').value !== T.upstreamTls) return tc.fail(`transport socket must be ${T.upstreamTls}`);
  const common = readCommonTlsContext(tc.field('common_tls_context'));
  if (!common.validationSecret) tc.field('common_tls_context').fail('a validation context (trusted roots) is required');
  const out: UpstreamTlsContext = {
    validationSecret: common.validationSecret ?? '',
    matchSubjectAltNames: common.matchSubjectAltNames,
    alpnProtocols: common.alpnProtocols,
    params: common.params,
  };
  if (common.certificateSecret) out.certificateSecret = common.certificateSecret;
  if (common.matchDnsSubjectAltNames.length) out.matchDnsSubjectAltNames = common.matchDnsSubjectAltNames;
  const sni = tc.field('sni').string({ maxLength: 253 });
  if (sni) out.sni = sni;
  return out;
}
