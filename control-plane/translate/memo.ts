// Pieces of a translation that do not depend on which proxy is being
// configured — an outbound cluster and its endpoints, the route table of a
// namespace + scope, the trust-bundle secret — built once per controller
// round and shared by every proxy translated in it. A round reads one set of
// policies, one registry state, one mesh config and one trust bundle, so a
// piece keyed by what it depends on besides those is the same for all
// proxies. Sharing the objects (not just equal copies) is what lets the xDS
// encode cache encode and hash each of them once (by identity) instead of
// once per proxy. A memo must not outlive its round: a new one per round.

export class TranslateMemo {
  private readonly pieces = new Map<string, unknown>();

  /** The piece stored under `key`, made by `make` on first use. The result must be treated as immutable. */
  get<T>(key: string, make: () => T): T {
    if (this.pieces.has(key)) return this.pieces.get(key) as T;
    const v = make();
    this.pieces.set(key, v);
    return v;
  }

  get size(): number {
    return this.pieces.size;
  }
}
