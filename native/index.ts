// Optional native addon: the original destination of a redirected connection
// (SO_ORIGINAL_DST). Built separately (`node dist/native/build.js`) so that
// `npm install` never needs a compiler; callers get a clear error if absent.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:net';
import { MeshError } from '../common/errors.js';

export interface OriginalDst {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

interface Addon {
  getOriginalDst(fd: number): OriginalDst;
}

const here = dirname(fileURLToPath(import.meta.url));
/** native/ in the source tree, whether this file runs from native/ or dist/native/. */
export const NATIVE_DIR = existsSync(join(here, 'binding.gyp')) ? here : resolve(here, '..', '..', 'native');
export const ADDON_PATH = join(NATIVE_DIR, 'build', 'Release', 'tsmesh_native.node');

let addon: Addon | undefined;

function load(): Addon {
  if (addon) return addon;
  try {
    addon = createRequire(import.meta.url)(ADDON_PATH) as Addon;
    return addon;
  } catch (cause) {
    // Not cached: the addon may be built later in this process's life (tests build it on demand).
    throw new MeshError(
      'MESH_NATIVE_UNAVAILABLE',
      `the tsmesh native addon is not built (${ADDON_PATH}); run \`node dist/native/build.js\` (needs a C compiler and Node's headers) to enable transparent interception`,
      { cause },
    );
  }
}

export function nativeAddonAvailable(): boolean {
  try {
    load();
    return true;
  } catch {
    return false;
  }
}

/** SO_ORIGINAL_DST of an accepted socket's file descriptor. */
export function getOriginalDst(fd: number): OriginalDst {
  return load().getOriginalDst(fd);
}

/** SO_ORIGINAL_DST of an accepted net.Socket (uses its libuv handle's fd). */
export function socketOriginalDst(socket: Socket): OriginalDst {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new MeshError('MESH_NATIVE_NO_FD', 'the socket has no file descriptor (closed, or not a TCP socket)');
  return getOriginalDst(fd);
}
