// Python source text for values inserted into notebooks: never JSON, always a Python literal.

function hex(code: number, width: number): string {
  return code.toString(16).padStart(width, '0');
}

/** A Python string literal (single-quoted, repr-like) whose value is exactly `value`. */
export function pyStr(value: string): string {
  let out = "'";
  // Walk by code point explicitly (a surrogate pair is one character; a lone half is escaped).
  for (let i = 0; i < value.length; i += 1) {
    const code = value.codePointAt(i) as number;
    const ch = String.fromCodePoint(code);
    if (code > 0xffff) {
      i += 1;
    }
    if (ch === '\\') {
      out += '\\\\';
    } else if (ch === "'") {
      out += "\\'";
    } else if (ch === '\n') {
      out += '\\n';
    } else if (ch === '\r') {
      out += '\\r';
    } else if (ch === '\t') {
      out += '\\t';
    } else if (code < 0x20 || (code >= 0x7f && code <= 0xa0) || code === 0xad) {
      out += '\\x' + hex(code, 2);
    } else if (
      (code >= 0xd800 && code <= 0xdfff) ||
      code === 0x2028 ||
      code === 0x2029 ||
      code === 0xfeff
    ) {
      out += '\\u' + hex(code, 4);
    } else {
      out += ch;
    }
  }
  return out + "'";
}

/** A Python list literal of string literals. */
export function pyList(values: string[]): string {
  return '[' + values.map(pyStr).join(', ') + ']';
}

/**
 * True for ids safe to place bare on a magic's line (MLflow run ids are hex). A leading `-`
 * is refused: the magic's argument parser would read the id as an option.
 */
export function isPlainId(value: string): boolean {
  return /^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$/.test(value);
}

/** Code that loads a model from an MLflow model URI. */
export function loadModelCode(uri: string): string {
  return `import mlflow\n\nmodel = mlflow.pyfunc.load_model(${pyStr(uri)})`;
}

/** Code that opens the comparison widget on the given runs. */
export function compareCode(runIds: string[]): string {
  return `from jupyter_mlops import compare_runs\n\ncompare_runs(run_ids=${pyList(runIds)})`;
}

/** The magic that restores a run's data versions; refuses ids that are not plain. */
export function checkoutCode(runId: string): string {
  if (!isPlainId(runId)) {
    throw new Error(`not a run id: ${runId}`);
  }
  return `%dvc_checkout ${runId}`;
}

/** The magic that re-runs a run's code slice in a temporary worktree; refuses ids that are not plain. */
export function reproduceCode(runId: string): string {
  if (!isPlainId(runId)) {
    throw new Error(`not a run id: ${runId}`);
  }
  return `%mlops_reproduce ${runId}`;
}
