import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../common/errors.js';
import { parseStaticSnapshots } from '../static-snapshot.js';
import { greeterYaml } from './greeter-yaml.js';

describe('static snapshot file', () => {
  it('parses Envoy-form YAML into per-node domain snapshots ("*" for any node)', () => {
    const s = parseStaticSnapshots(greeterYaml(50051), 'mesh.yaml');
    expect(s.version).toBe('1');
    const res = s.forNode('any-node')!;
    expect(res.listener.get('greeter')!.apiListener!.rdsRouteConfigName).toBe('greeter-routes');
    expect(res.cluster.get('greeter-v1')).toMatchObject({ type: 'EDS', connectTimeout: 1000, lbPolicy: 'ROUND_ROBIN' });
    expect(res.clusterLoadAssignment.get('greeter-v1')!.endpoints[0]).toMatchObject({ address: { address: '127.0.0.1', port: 50051 }, healthStatus: 'HEALTHY' });
  });

  it('reports every problem with file:line and field path, including dangling references', () => {
    const bad = greeterYaml(50051).replace('route_config_name: greeter-routes', 'route_config_name: nope').replace('type: EDS', 'type: STRICT_DNS');
    let err: ValidationError | undefined;
    try {
      parseStaticSnapshots(bad, 'mesh.yaml');
    } catch (e) {
      err = e as ValidationError;
    }
    expect(err).toBeInstanceOf(ValidationError);
    // A DNS cluster without the names to resolve.
    expect(err!.message).toMatch(/mesh\.yaml:\d+: nodes\.\*\.clusters\[0\]\.load_assignment: is required/);
    expect(err!.message).toMatch(/mesh\.yaml:\d+: nodes\.\*: listener\[greeter\]\.api_listener\.rds: references route configuration "nope"/);
  });
});
