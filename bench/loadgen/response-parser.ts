// Incremental HTTP/1.1 response framing for the load generator: it only needs
// to know where each response ends and its status code, so it reads the status
// line, Content-Length or chunked framing, and skips everything else. Written
// for low CPU: byte scans on Buffers, no header objects, no strings per byte.

const CRLFCRLF = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');
const MAX_HEAD = 64 * 1024;

export class ResponseFramingError extends Error {}

export class ResponseParser {
  private buf: Buffer = Buffer.alloc(0);
  /** Body bytes still expected for the current response (-1: reading the head). */
  private remaining = -1;
  private chunked = false;
  private status = 0;

  /** Feeds bytes; calls onResponse(status) once per complete response. */
  feed(chunk: Buffer, onResponse: (status: number) => void): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.remaining < 0) {
        const end = this.buf.indexOf(CRLFCRLF);
        if (end < 0) {
          if (this.buf.length > MAX_HEAD) throw new ResponseFramingError('response head over 64 KiB');
          return;
        }
        this.readHead(end);
        this.buf = this.buf.subarray(end + 4);
        if (!this.chunked && this.remaining === 0) {
          this.remaining = -1;
          onResponse(this.status);
          continue;
        }
      }
      if (this.chunked) {
        if (!this.consumeChunks()) return;
        this.remaining = -1;
        this.chunked = false;
        onResponse(this.status);
        continue;
      }
      if (this.buf.length < this.remaining) {
        this.remaining -= this.buf.length;
        this.buf = Buffer.alloc(0);
        return;
      }
      this.buf = this.buf.subarray(this.remaining);
      this.remaining = -1;
      onResponse(this.status);
    }
  }

  private readHead(end: number): void {
    // "HTTP/1.1 200 OK": the status code is at bytes 9..11.
    this.status = (this.buf[9]! - 48) * 100 + (this.buf[10]! - 48) * 10 + (this.buf[11]! - 48);
    const head = this.buf.toString('latin1', 0, end).toLowerCase();
    const cl = head.indexOf('\r\ncontent-length:');
    if (cl >= 0) {
      const lineEnd = head.indexOf('\r\n', cl + 2);
      this.remaining = parseInt(head.slice(cl + 17, lineEnd < 0 ? undefined : lineEnd), 10);
      this.chunked = false;
    } else if (head.includes('\r\ntransfer-encoding: chunked') || head.includes('\r\ntransfer-encoding:chunked')) {
      this.chunked = true;
      this.remaining = 0;
    } else if (this.status === 204 || this.status === 304) {
      this.remaining = 0;
    } else {
      throw new ResponseFramingError('response without content-length or chunked framing');
    }
    if (!Number.isFinite(this.remaining) || this.remaining < 0) throw new ResponseFramingError('bad content-length');
  }

  /** Consumes chunk frames; true once the terminating chunk and its CRLF were read. */
  private consumeChunks(): boolean {
    for (;;) {
      if (this.remaining > 0) {
        // inside a chunk's data plus its trailing CRLF
        if (this.buf.length < this.remaining) {
          this.remaining -= this.buf.length;
          this.buf = Buffer.alloc(0);
          return false;
        }
        this.buf = this.buf.subarray(this.remaining);
        this.remaining = 0;
      }
      const eol = this.buf.indexOf(CRLF);
      if (eol < 0) return false;
      const size = parseInt(this.buf.toString('latin1', 0, eol), 16);
      if (!Number.isFinite(size)) throw new ResponseFramingError('bad chunk size');
      if (size === 0) {
        // last chunk: no trailers expected from our upstreams; need the final CRLF
        const fin = this.buf.indexOf(CRLFCRLF, eol - 2 < 0 ? 0 : eol - 2);
        if (fin < 0) return false;
        this.buf = this.buf.subarray(fin + 4);
        return true;
      }
      this.buf = this.buf.subarray(eol + 2);
      this.remaining = size + 2;
    }
  }
}
