/** Located findings: every rule reports through these, nothing throws for bad input. */
/** `notice`: worth knowing, never a problem (e.g. an exception that expires soon); not collected by the sink. */
export type Severity = 'error' | 'warning' | 'notice';

export interface SourcePosition {
  /** Repository-relative path with forward slashes, e.g. `policies/base.yml`. */
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
}

export interface Diagnostic extends SourcePosition {
  /** Stable code such as `endpoint/scheme`; tools and tests key on it. */
  code: string;
  severity: Severity;
  /** Says what is wrong and what to do about it. */
  message: string;
}

/** changesets-style result: a value (possibly partial) plus everything found on the way. */
export interface Result<T> {
  value: T;
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

/** Collects diagnostics while rules run; split by severity at the end. */
export class DiagnosticSink {
  readonly items: Diagnostic[] = [];

  error(code: string, at: SourcePosition, message: string): void {
    this.items.push({ code, severity: 'error', message, file: at.file, line: at.line, column: at.column });
  }

  warning(code: string, at: SourcePosition, message: string): void {
    this.items.push({ code, severity: 'warning', message, file: at.file, line: at.line, column: at.column });
  }

  add(diagnostic: Diagnostic): void {
    this.items.push(diagnostic);
  }

  get hasErrors(): boolean {
    return this.items.some((item) => item.severity === 'error');
  }

  result<T>(value: T): Result<T> {
    const sorted = [...this.items].sort(compareDiagnostics);
    return {
      value,
      errors: sorted.filter((item) => item.severity === 'error'),
      warnings: sorted.filter((item) => item.severity === 'warning'),
    };
  }
}

export function compareDiagnostics(a: Diagnostic, b: Diagnostic): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1;
  if (a.line !== b.line) return a.line - b.line;
  if (a.column !== b.column) return a.column - b.column;
  return a.code < b.code ? -1 : a.code > b.code ? 1 : 0;
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.column}: ${d.severity} ${d.code}: ${d.message}`;
}
