// llhttp — the HTTP/1.1 parser Node's http module and undici are built on —
// driven directly, as undici ships it compiled to WebAssembly (SIMD build
// when the CPU has it). The proxy's HTTP/1.1 engine parses both directions
// with it instead of going through node:http's stream objects: strict
// parsing (no lenient flags: CL+TE conflicts, bad chunk sizes and bare LFs
// are errors, which is what closes request-smuggling gaps), and body bytes
// are handed out as views of the socket's own buffers (no copy).
//
// One wasm instance serves every parser of the process; parsing is
// synchronous, so the callbacks find their parser and buffer in two
// module-level slots while execute() runs.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

// The slice of the WebAssembly API used here (the project's lib settings have no DOM types).
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Instance {
    constructor(m: Module, imports: object);
    readonly exports: object;
  }
  interface Memory {
    readonly buffer: ArrayBuffer;
  }
}

// llhttp's error numbers (llhttp/constants ERROR) this module acts on.
export const HPE_OK = 0;
export const HPE_PAUSED = 21;
export const HPE_PAUSED_UPGRADE = 22;
/** A callback returned -1: our own limit was exceeded (header size). */
export const HPE_USER = 24;

export const PARSE_REQUEST = 1;
export const PARSE_RESPONSE = 2;

/** Returned by onHeadersComplete: 0 = body as framed, 1 = no body (HEAD response, 304…). */
export const SKIP_BODY = 1;

/**
 * What a parser reports; each callback returns 0 to go on, -1 to stop with an error.
 * URL and header pieces arrive as latin1 strings decoded straight from the socket's
 * buffer (no Buffer view per piece); `end` / `at` are byte offsets within the chunk
 * being executed (for stream positions). Body data is a view of the chunk (no copy).
 */
export interface ParserEvents {
  onMessageBegin(): number;
  onUrl(s: string): number;
  onHeaderField(s: string): number;
  onHeaderValue(s: string, end: number): number;
  onHeadersComplete(statusCode: number, upgrade: boolean, keepAlive: boolean): number;
  onBody(b: Buffer, at: number): number;
  onMessageComplete(): number;
}

interface LlhttpExports {
  memory: WebAssembly.Memory;
  malloc(n: number): number;
  free(p: number): void;
  llhttp_alloc(type: number): number;
  llhttp_free(p: number): void;
  llhttp_execute(p: number, data: number, len: number): number;
  llhttp_finish(p: number): number;
  llhttp_resume(p: number): void;
  llhttp_get_error_pos(p: number): number;
  llhttp_get_error_reason(p: number): number;
  llhttp_get_method(p: number): number;
  llhttp_get_http_major(p: number): number;
  llhttp_get_http_minor(p: number): number;
}

const FastBuffer = (Buffer as unknown as Record<symbol, unknown>)[Symbol.species] as new (ab: ArrayBufferLike, offset: number, len: number) => Buffer;

let current: Parser | undefined;
let currentChunk: Buffer | undefined;
let bufPtr = 0;
let bufSize = 0;

function view(at: number, len: number): Buffer {
  const c = currentChunk!;
  return new FastBuffer(c.buffer, c.byteOffset + (at - bufPtr), len);
}

/** Buffer's own latin1 decoder (what toString('latin1') ends in), called without making a view first. */
type Latin1Chunk = Buffer & { latin1Slice(start: number, end: number): string };
function text(at: number, len: number): string {
  const off = at - bufPtr;
  return (currentChunk as Latin1Chunk).latin1Slice(off, off + len);
}

/** The wasm memory as bytes; re-made only when the memory grew (its old buffer is detached then). */
let heap: Uint8Array | undefined;

/** What a callback threw during the current execute()/finish() (rethrown after wasm returns). */
let thrown: { error: unknown } | undefined;
function caught(e: unknown): number {
  thrown ??= { error: e };
  return -1;
}

let wasm: LlhttpExports | undefined;
function instance(): LlhttpExports {
  if (wasm) return wasm;
  let mod: WebAssembly.Module;
  try {
    mod = new WebAssembly.Module(require('undici/lib/llhttp/llhttp_simd-wasm.js'));
  } catch {
    mod = new WebAssembly.Module(require('undici/lib/llhttp/llhttp-wasm.js'));
  }
  // An exception must never unwind through the wasm frames (llhttp's state and its C stack
  // would be left mid-call): a throwing callback stops the parse with an error instead and
  // execute() rethrows once wasm has returned.
  const env = {
    wasm_on_message_begin: () => {
      try {
        return current!.events.onMessageBegin();
      } catch (e) {
        return caught(e);
      }
    },
    wasm_on_url: (_p: number, at: number, len: number) => {
      try {
        return current!.events.onUrl(text(at, len));
      } catch (e) {
        return caught(e);
      }
    },
    wasm_on_status: () => 0,
    wasm_on_header_field: (_p: number, at: number, len: number) => {
      try {
        return current!.events.onHeaderField(text(at, len));
      } catch (e) {
        return caught(e);
      }
    },
    wasm_on_header_value: (_p: number, at: number, len: number) => {
      try {
        return current!.events.onHeaderValue(text(at, len), at - bufPtr + len);
      } catch (e) {
        return caught(e);
      }
    },
    wasm_on_headers_complete: (_p: number, status: number, upgrade: number, keepAlive: number) => {
      try {
        return current!.events.onHeadersComplete(status, upgrade === 1, keepAlive === 1);
      } catch (e) {
        return caught(e);
      }
    },
    wasm_on_body: (_p: number, at: number, len: number) => {
      try {
        return current!.events.onBody(view(at, len), at - bufPtr);
      } catch (e) {
        return caught(e);
      }
    },
    wasm_on_message_complete: () => {
      try {
        return current!.events.onMessageComplete();
      } catch (e) {
        return caught(e);
      }
    },
  };
  wasm = new WebAssembly.Instance(mod, { env }).exports as unknown as LlhttpExports;
  return wasm;
}

const METHOD_NAMES: string[] = (() => {
  const methods = (require('undici/lib/llhttp/constants.js') as { METHODS: Record<string, number> }).METHODS;
  const out: string[] = [];
  for (const [name, n] of Object.entries(methods)) out[n] = name;
  return out;
})();

const ERROR_NAMES: Record<number, string> = (() => {
  const errors = (require('undici/lib/llhttp/constants.js') as { ERROR: Record<string, number> }).ERROR;
  const out: Record<number, string> = {};
  for (const [name, n] of Object.entries(errors)) out[n] = name;
  return out;
})();

/** A parse failure: llhttp's error name (e.g. INVALID_HEADER_TOKEN) and reason. */
export class HttpParseError extends Error {
  /** Node's http names for the same failures (HPE_INVALID_HEADER_TOKEN …); callers may re-code it. */
  code: string;
  constructor(
    readonly errno: number,
    reason: string,
  ) {
    super(`HTTP/1.1 parse error ${ERROR_NAMES[errno] ?? errno}: ${reason}`);
    this.code = `HPE_${ERROR_NAMES[errno] ?? 'UNKNOWN'}`;
  }
}

/** Outcome of feeding one chunk (execute()'s return; no object per call). */
export const EXEC_OK = 0;
/** A callback returned HPE_PAUSED (at a message start): call resume(), then execute the rest (from parser.stoppedAt) later. */
export const EXEC_PAUSED = 1;
/** An upgrade (101 / CONNECT) finished its head: what followed it starts at parser.stoppedAt. */
export const EXEC_UPGRADE = 2;
/** A parse error: parser.lastError says which. */
export const EXEC_ERROR = 3;
export type ExecuteResult = typeof EXEC_OK | typeof EXEC_PAUSED | typeof EXEC_UPGRADE | typeof EXEC_ERROR;

function rethrow(): never {
  const e = thrown!.error;
  thrown = undefined;
  throw e;
}

export class Parser {
  private ptr: number;
  /** After EXEC_PAUSED / EXEC_UPGRADE: the offset in the chunk where parsing stopped. */
  stoppedAt = 0;
  /** After EXEC_ERROR: what failed. */
  lastError: HttpParseError | undefined = undefined;

  constructor(
    type: typeof PARSE_REQUEST | typeof PARSE_RESPONSE,
    readonly events: ParserEvents,
  ) {
    this.ptr = instance().llhttp_alloc(type);
  }

  get method(): string {
    return METHOD_NAMES[wasm!.llhttp_get_method(this.ptr)] ?? 'GET';
  }

  get httpMinor(): number {
    return wasm!.llhttp_get_http_minor(this.ptr);
  }

  get httpMajor(): number {
    return wasm!.llhttp_get_http_major(this.ptr);
  }

  /** After a 'paused' result: parsing may go on from the returned rest. */
  resume(): void {
    wasm!.llhttp_resume(this.ptr);
  }

  execute(chunk: Buffer): ExecuteResult {
    // One shared wasm buffer: a callback must never parse another message synchronously.
    if (current !== undefined) throw new Error('llhttp parser re-entered from its own callback');
    const w = wasm!;
    if (chunk.length > bufSize) {
      if (bufPtr) w.free(bufPtr);
      bufSize = Math.ceil(chunk.length / 4096) * 4096;
      bufPtr = w.malloc(bufSize);
    }
    // Memory growth detaches the old buffer (its view's length drops to 0): only then is the view
    // re-made, so the common call reads no `memory.buffer` (a call into the runtime each time).
    let h = heap;
    if (h === undefined || h.byteLength === 0) h = heap = new Uint8Array(w.memory.buffer);
    h.set(chunk, bufPtr);
    let ret: number;
    current = this;
    currentChunk = chunk;
    try {
      ret = w.llhttp_execute(this.ptr, bufPtr, chunk.length);
    } finally {
      current = undefined;
      currentChunk = undefined;
    }
    if (thrown !== undefined) rethrow();
    if (ret === HPE_OK) return EXEC_OK;
    if (ret === HPE_PAUSED_UPGRADE || ret === HPE_PAUSED) {
      this.stoppedAt = w.llhttp_get_error_pos(this.ptr) - bufPtr;
      return ret === HPE_PAUSED ? EXEC_PAUSED : EXEC_UPGRADE;
    }
    this.lastError = this.error(ret);
    return EXEC_ERROR;
  }

  /** The peer closed: a message framed by connection close ends here (or is an error when cut short). */
  finish(): HttpParseError | undefined {
    const w = wasm!;
    current = this;
    let ret: number;
    try {
      ret = w.llhttp_finish(this.ptr);
    } finally {
      current = undefined;
    }
    if (thrown !== undefined) rethrow();
    return ret === HPE_OK || ret === HPE_PAUSED || ret === HPE_PAUSED_UPGRADE ? undefined : this.error(ret);
  }

  private error(ret: number): HttpParseError {
    const w = wasm!;
    const p = w.llhttp_get_error_reason(this.ptr);
    let reason = '';
    if (p) {
      const mem = new Uint8Array(w.memory.buffer);
      let end = p;
      while (end < mem.length && mem[end] !== 0) end++;
      reason = Buffer.from(mem.subarray(p, end)).toString('latin1');
    }
    return new HttpParseError(ret, reason);
  }

  /** Frees the wasm-side state; the parser must not be used afterwards. */
  destroy(): void {
    if (this.ptr) {
      wasm!.llhttp_free(this.ptr);
      this.ptr = 0;
    }
  }
}
