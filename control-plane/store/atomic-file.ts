// Durable whole-file replacement: write a temp file, fsync it, rename it over
// the target, fsync the directory. Readers see the old or the new content,
// never a torn one, also across a crash.

import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MeshError } from '../../common/errors.js';

export async function writeFileAtomic(file: string, data: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    const d = await open(dirname(file), 'r');
    try {
      await d.sync(); // make the rename itself durable
    } finally {
      await d.close();
    }
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw new MeshError('MESH_STORE_WRITE', `could not write ${file}: ${(e as Error).message}`, { cause: e });
  }
}
