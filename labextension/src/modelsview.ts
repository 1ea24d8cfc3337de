// Sidebar tab: registered models, their versions and aliases; promote after a comparison.
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { api, IComparison, IModel, IModelDetail, IModelVersion, IServedModel } from './api';
import { button, clear, h, num, when } from './dom';
import { loadModelCode } from './pyquote';

/** Body of the confirmation dialog: candidate metrics beside the current alias holder. */
export function comparisonBody(cmp: IComparison): Widget {
  const body = new Widget();
  body.addClass('jp-mlops-compare');
  const who = cmp.current
    ? `version ${cmp.current.version} holds "${cmp.alias}" now`
    : `no version holds "${cmp.alias}" yet`;
  body.node.appendChild(
    h('p', {}, `Point "${cmp.alias}" of ${cmp.name} at version ${cmp.candidate.version}? (${who})`)
  );
  const verdict = h('p', { className: cmp.primary.worse ? 'jp-mlops-worse' : 'jp-mlops-verdict' }, cmp.primary.message);
  if (cmp.primary.worse) {
    verdict.prepend('Worse than the current holder: ');
  }
  body.node.appendChild(verdict);
  const table = h(
    'table',
    { className: 'jp-mlops-table' },
    h(
      'thead',
      {},
      h('tr', {}, h('th', {}, 'metric'), h('th', {}, `v${cmp.candidate.version}`), h('th', {}, cmp.current ? `v${cmp.current.version}` : cmp.alias), h('th', {}, 'Δ'))
    )
  );
  const rows = h('tbody', {});
  for (const row of cmp.metrics) {
    const delta = row.delta === null ? '—' : (row.delta > 0 ? '+' : '') + num(row.delta);
    rows.appendChild(
      h('tr', { attrs: { 'data-metric': row.key } }, h('td', {}, row.key), h('td', {}, num(row.candidate)), h('td', {}, num(row.current)), h('td', {}, delta))
    );
  }
  if (!cmp.metrics.length) {
    rows.appendChild(h('tr', {}, h('td', { attrs: { colspan: '4' } }, 'No metrics logged on these runs.')));
  }
  table.appendChild(rows);
  body.node.appendChild(table);
  return body;
}

/** One line per server: which version is served where, and how it is doing. */
export function servedLine(s: IServedModel): HTMLElement {
  const parts = [`v${s.version ?? '?'} at ${s.url}`, s.model_uri];
  if (s.requests !== undefined && s.requests !== null) {
    parts.push(`${s.requests} requests, ${s.errors ?? 0} errors`);
  }
  if (s.p50_ms !== undefined && s.p50_ms !== null) {
    parts.push(`p50 ${num(s.p50_ms)} ms`);
  }
  if (s.shadow_uri) {
    const agreement = s.shadow_agreement === null || s.shadow_agreement === undefined ? '' : ` (${num(100 * s.shadow_agreement)}% agree)`;
    parts.push(`shadow v${s.shadow_version ?? '?'}${agreement}`);
  }
  return h('li', { className: 'jp-mlops-served', attrs: { 'data-version': s.version ?? '', 'data-url': s.url } }, parts.join(' · '));
}

/** The lines of the model servers that could not act on an alias move (text only). */
export function servingNotes(lines: string[]): HTMLElement | null {
  if (!lines.length) {
    return null;
  }
  return h('ul', { className: 'jp-mlops-serving-notes' }, ...lines.map(line => h('li', {}, line)));
}

/** Models → versions with aliases, promote and load-code buttons. */
export class ModelsView extends Widget {
  private models: IModel[] = [];
  private served: IServedModel[] = [];
  private selected: string | null = null;
  /** Servers that could not act on the last alias move, shown under that version. */
  private notes: { model: string; version: string; lines: string[] } | null = null;
  private readonly list = h('ul', { className: 'jp-mlops-models' });
  private readonly detail = h('div', { className: 'jp-mlops-model-detail' });
  private readonly message = h('div', { className: 'jp-mlops-message' });

  constructor(
    private readonly insert: (code: string) => Promise<boolean>,
    private readonly openRun: (runId: string) => void
  ) {
    super();
    this.addClass('jp-mlops-modelsview');
    this.title.label = 'Models';
    this.node.append(this.message, this.list, this.detail);
  }

  protected onAfterAttach(): void {
    void this.refresh();
  }

  /** Reload the model list (and the open model). */
  async refresh(): Promise<void> {
    try {
      this.models = await api.models();
      this.message.textContent = '';
    } catch (error) {
      this.message.textContent = (error as Error).message;
      return;
    }
    try {
      this.served = await api.serving();
    } catch {
      this.served = []; // serving is optional: the registry view works without it
    }
    clear(this.list);
    for (const model of this.models) {
      const aliases = Object.entries(model.aliases).map(([alias, version]) =>
        h('span', { className: 'jp-mlops-badge jp-mlops-alias' }, `${alias} → v${version}`)
      );
      const servedVersions = [...new Set(this.served.filter(s => s.model === model.name).map(s => `v${s.version}`))];
      const served = servedVersions.length
        ? h('span', { className: 'jp-mlops-badge jp-mlops-served-badge', title: 'being served' }, `served ${servedVersions.join(', ')}`)
        : null;
      const item = h(
        'li',
        { className: 'jp-mlops-model', attrs: { 'data-model': model.name, tabindex: '0' } },
        h('span', { className: 'jp-mlops-model-name' }, model.name),
        ...aliases,
        served
      );
      item.classList.toggle('jp-mod-selected', model.name === this.selected);
      item.addEventListener('click', () => void this.showModel(model.name));
      this.list.appendChild(item);
    }
    if (!this.models.length) {
      this.list.appendChild(h('li', { className: 'jp-mlops-empty' }, 'No registered models yet.'));
    }
    if (this.selected) {
      await this.showModel(this.selected);
    }
  }

  private async showModel(name: string): Promise<void> {
    if (name !== this.selected) {
      this.notes = null;
    }
    this.selected = name;
    for (const item of Array.from(this.list.children)) {
      item.classList.toggle('jp-mod-selected', (item as HTMLElement).dataset.model === name);
    }
    let detail: IModelDetail;
    try {
      detail = await api.model(name);
    } catch (error) {
      this.message.textContent = (error as Error).message;
      return;
    }
    clear(this.detail);
    this.detail.appendChild(h('h3', {}, detail.name));
    const denied = detail.access && !detail.access.can_promote ? detail.access.reason : null;
    if (denied) {
      this.detail.appendChild(h('div', { className: 'jp-mlops-access-denied' }, denied));
    }
    const alias = h('input', { className: 'jp-mlops-alias-input', attrs: { value: 'champion', title: 'Alias to set', 'aria-label': 'alias' } });
    this.detail.appendChild(h('label', { className: 'jp-mlops-alias-label' }, 'Alias ', alias));
    const rows = h('ul', { className: 'jp-mlops-versions' });
    for (const version of detail.versions) {
      rows.appendChild(this.versionRow(detail, version, () => alias.value.trim() || 'champion'));
    }
    this.detail.appendChild(rows);
    const servers = this.served.filter(s => s.model === detail.name);
    if (servers.length) {
      this.detail.append(h('h4', {}, 'Being served'), h('ul', { className: 'jp-mlops-serving' }, ...servers.map(servedLine)));
    }
    if (detail.history.length) {
      const items = detail.history.slice(-10).reverse().map(p =>
        h('li', {}, `${when(p.time_ms)} ${p.user}: ${p.action} "${p.alias}" → ${p.version === null ? 'removed' : 'v' + p.version}` + (p.previous_version ? ` (was v${p.previous_version})` : ''))
      );
      this.detail.append(h('h4', {}, 'Promotion history'), h('ul', { className: 'jp-mlops-history' }, ...items));
    }
  }

  private versionRow(detail: IModelDetail, version: IModelVersion, alias: () => string): HTMLElement {
    const metricText = Object.entries(version.metrics).sort(([a], [b]) => a.length - b.length).slice(0, 3).map(([k, v]) => `${k} ${num(v)}`).join(' · ');
    const servedHere = this.served.some(s => s.model === detail.name && s.version === version.version);
    const denied = detail.access && !detail.access.can_promote ? detail.access.reason ?? 'permission denied' : null;
    const badges: HTMLElement[] = version.aliases.map(a => {
      const remove = h('button', { className: 'jp-mlops-alias-remove', title: denied ?? `Remove alias "${a}"`, attrs: { 'aria-label': `Remove alias ${a}` } }, '×');
      remove.disabled = denied !== null;
      remove.addEventListener('click', () => void this.demote(detail.name, a, version.version));
      return h('span', { className: 'jp-mlops-badge jp-mlops-alias' }, a, remove);
    });
    const uri = `models:/${detail.name}/${version.version}`;
    const promote = button('Promote…', () => void this.promote(detail.name, version.version, alias()), { accept: true, className: 'jp-mlops-promote', title: denied ?? undefined });
    promote.disabled = denied !== null;
    const actions = h(
      'div',
      { className: 'jp-mlops-actions' },
      promote,
      button('Insert load code', () => void this.insert(loadModelCode(uri)), { title: uri }),
      version.run_id ? button('Open run', () => this.openRun(version.run_id as string)) : null
    );
    return h(
      'li',
      { className: 'jp-mlops-version', attrs: { 'data-version': version.version } },
      h('div', {}, h('strong', {}, `v${version.version}`), ' ', h('span', { className: 'jp-mlops-dim' }, when(version.creation_time)), ...badges,
        servedHere ? h('span', { className: 'jp-mlops-badge jp-mlops-served-badge' }, 'served') : null),
      metricText ? h('div', { className: 'jp-mlops-dim' }, metricText) : null,
      actions,
      this.notes?.model === detail.name && this.notes.version === version.version ? servingNotes(this.notes.lines) : null
    );
  }

  private async demote(name: string, alias: string, version: string): Promise<void> {
    const result = await showDialog({
      title: `Remove "${alias}" from ${name}?`,
      body: `Version ${version} will no longer be "${alias}". The removal is kept in the promotion history.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Remove alias' })]
    });
    if (!result.button.accept) {
      return;
    }
    this.notes = null;
    try {
      const result = await api.demote(name, alias);
      this.notes = { model: name, version, lines: result.serving_notes ?? [] };
    } catch (error) {
      await showErrorMessage('Removing the alias failed', (error as Error).message);
      return;
    }
    await this.refresh();
  }

  private async promote(name: string, version: string, alias: string): Promise<void> {
    let cmp: IComparison;
    try {
      cmp = await api.compare(name, version, alias);
    } catch (error) {
      await showErrorMessage('Cannot compare', (error as Error).message);
      return;
    }
    const result = await showDialog({
      title: `Promote ${name} v${version} to "${alias}"?`,
      body: comparisonBody(cmp),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Promote' })]
    });
    if (!result.button.accept) {
      return;
    }
    this.notes = null;
    try {
      const result = await api.promote(name, version, alias);
      this.notes = { model: name, version, lines: result.serving_notes ?? [] };
    } catch (error) {
      await showErrorMessage('Promotion failed', (error as Error).message);
      return;
    }
    await this.refresh();
  }
}
