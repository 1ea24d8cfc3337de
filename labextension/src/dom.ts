// Tiny DOM builders: every user- or run-supplied string goes in as textContent, never as HTML.

export type Child = Node | string | null | undefined | false;

/** Create an element with classes, text-safe children and optional attributes. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { className?: string; title?: string; attrs?: Record<string, string> } = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.className) {
    node.className = props.className;
  }
  if (props.title) {
    node.title = props.title;
  }
  for (const [key, value] of Object.entries(props.attrs ?? {})) {
    node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

/** A JupyterLab-styled button. */
export function button(
  label: string,
  onClick: () => void,
  options: { accept?: boolean; title?: string; className?: string } = {}
): HTMLButtonElement {
  const classes = ['jp-Button', 'jp-mod-styled', 'jp-mlops-button'];
  classes.push(options.accept ? 'jp-mod-accept' : 'jp-mod-reject');
  if (options.className) {
    classes.push(options.className);
  }
  const node = h('button', { className: classes.join(' '), title: options.title }, label);
  node.type = 'button';
  node.addEventListener('click', onClick);
  return node;
}

/** Status badge for a run status (RUNNING, FINISHED, FAILED, KILLED, SCHEDULED). */
export function statusBadge(status: string): HTMLElement {
  const known = ['RUNNING', 'FINISHED', 'FAILED', 'KILLED', 'SCHEDULED'];
  const kind = known.includes(status) ? status.toLowerCase() : 'unknown';
  return h('span', { className: `jp-mlops-badge jp-mlops-status-${kind}`, title: status }, status);
}

/** Short local date-time for an epoch-milliseconds timestamp. */
export function when(ms: number | null | undefined): string {
  if (!ms) {
    return '';
  }
  return new Date(ms).toLocaleString(undefined, {
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit'
  });
}

/** A metric value shown with at most four significant decimals. */
export function num(value: number | null | undefined): string {
  if (value === null || value === undefined) {
    return '—';
  }
  return Number.isInteger(value) ? String(value) : value.toPrecision(4);
}

/** Remove all children of a node. */
export function clear(node: HTMLElement): void {
  while (node.firstChild) {
    node.removeChild(node.firstChild);
  }
}
