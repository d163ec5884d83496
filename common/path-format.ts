// Field paths as users read them (`a.b[2].c`), without the YAML parser: the
// config checker formats paths for config that came over xDS too, and a
// sidecar without a bootstrap file should not load `yaml` for that.

export type PathSeg = string | number;

/** Format a path the way users read it: `a.b[2].c`. */
export function formatPath(path: readonly PathSeg[]): string {
  let s = '';
  for (const seg of path) s += typeof seg === 'number' ? `[${seg}]` : s ? `.${seg}` : seg;
  return s;
}
