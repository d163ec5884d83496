// Typed errors with stable codes (MESH_*) that tests and users can match.
// Every error the mesh raises on purpose is a MeshError; `cause` keeps the
// underlying error for logs.

export class MeshError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** One problem found while validating input: where it is and what is wrong. */
export interface ValidationIssue {
  /** File the input came from, when it came from a file. */
  file?: string;
  /** 1-based line in `file`, when known. */
  line?: number;
  /** Field path inside the document, e.g. `routes[2].match.prefix`. */
  path: string;
  message: string;
}

export function formatIssue(i: ValidationIssue): string {
  const where = i.file ? `${i.file}${i.line ? `:${i.line}` : ''}: ` : i.line ? `line ${i.line}: ` : '';
  return `${where}${i.path ? `${i.path}: ` : ''}${i.message}`;
}

/** Input was refused as a whole; `issues` lists every problem found. */
export class ValidationError extends MeshError {
  readonly issues: ValidationIssue[];
  constructor(issues: ValidationIssue[], what = 'configuration') {
    super(
      'MESH_INVALID_CONFIG',
      `invalid ${what} (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n` +
        issues.map((i) => `  ${formatIssue(i)}`).join('\n'),
    );
    this.issues = issues;
  }
}
