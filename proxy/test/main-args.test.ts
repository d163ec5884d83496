import { describe, expect, it } from 'vitest';
import { parseProxyArgs } from '../main-args.js';

describe('mesh-proxy command line', () => {
  it('reads --config / -c and --no-watch', () => {
    expect(parseProxyArgs(['--config', 'b.yaml'])).toEqual({ config: 'b.yaml', watch: true, help: false });
    expect(parseProxyArgs(['-c', 'b.yaml', '--no-watch'])).toEqual({ config: 'b.yaml', watch: false, help: false });
    expect(parseProxyArgs(['--config=b.yaml'])).toEqual({ config: 'b.yaml', watch: true, help: false });
  });
  it('takes the injector\'s "sidecar" mode and falls back to TSMESH_BOOTSTRAP', () => {
    expect(parseProxyArgs(['sidecar'])).toEqual({ watch: true, help: false });
    expect(parseProxyArgs([], '/etc/tsmesh/b.yaml')).toEqual({ config: '/etc/tsmesh/b.yaml', watch: true, help: false });
    expect(parseProxyArgs(['-c', 'x.yaml'], '/etc/tsmesh/b.yaml').config).toBe('x.yaml');
  });
  it('refuses unknown options, other modes and a missing file name', () => {
    expect(() => parseProxyArgs(['--conifg', 'b.yaml'])).toThrow(/--conifg/);
    expect(() => parseProxyArgs(['gateway'])).toThrow(/"gateway".*sidecar/);
    expect(() => parseProxyArgs(['sidecar', 'extra'])).toThrow(/"extra"/);
    expect(() => parseProxyArgs(['--config'])).toThrow(/--config/);
  });
  it('--help', () => {
    expect(parseProxyArgs(['--help']).help).toBe(true);
  });
});
