// Sidebar tab: pick an experiment, page through its runs, follow new runs with backoff polling.
import { Widget } from '@lumino/widgets';

import { api, IExperiment, IRunPage, IRunSummary, IStale } from './api';
import { button, clear, h, num, statusBadge, when } from './dom';

const PAGE = 50;
const FAST_MS = 3000;
const SLOW_MS = 60000;

/** Experiments → runs list with search, sort metric and polling refresh. */
export class RunsView extends Widget {
  private experiments: IExperiment[] = [];
  private experimentId = '';
  private pinned = false; // the user picked an experiment: stop following the newest one
  private metric = '';
  private metricPinned = false; // the user picked a metric: stop following the primary one
  private runs: IRunSummary[] = [];
  private total = 0;
  private signature = '';
  private delay = FAST_MS;
  private timer: number | undefined;
  private readonly select = h('select', { className: 'jp-mlops-experiment', title: 'Experiment' });
  private readonly metricSelect = h('select', { className: 'jp-mlops-metric', title: 'Primary metric (sort)' });
  private readonly search = h('input', {
    className: 'jp-mlops-search jp-InputGroup',
    attrs: { type: 'search', placeholder: "Filter, e.g. params.lr = '0.1'" }
  });
  private readonly list = h('ul', { className: 'jp-mlops-runs' });
  private readonly footer = h('div', { className: 'jp-mlops-footer' });
  private readonly message = h('div', { className: 'jp-mlops-message' });

  constructor(private readonly openRun: (runId: string) => void) {
    super();
    this.addClass('jp-mlops-runsview');
    this.title.label = 'Runs';
    this.select.addEventListener('change', () => {
      this.pinned = true;
      this.chooseExperiment(this.select.value);
    });
    this.metricSelect.addEventListener('change', () => {
      this.metricPinned = true;
      this.metric = this.metricSelect.value;
      void this.reload();
    });
    this.search.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        void this.reload();
      }
    });
    this.node.append(
      h('div', { className: 'jp-mlops-controls' }, this.select, this.metricSelect, this.search),
      this.message,
      this.list,
      this.footer
    );
  }

  /** Reload experiments and the first page now; restart polling at its fast pace. */
  async refresh(): Promise<void> {
    await this.loadExperiments();
    await this.reload();
  }

  /** Something happened (a kernel went idle): look for new runs soon. */
  kick(): void {
    this.delay = FAST_MS;
    this.schedule(500);
  }

  protected onAfterAttach(): void {
    void this.refresh();
  }

  protected onBeforeDetach(): void {
    window.clearTimeout(this.timer);
    this.timer = undefined;
  }

  dispose(): void {
    window.clearTimeout(this.timer);
    super.dispose();
  }

  private schedule(ms: number): void {
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => void this.poll(), ms);
  }

  private async poll(): Promise<void> {
    if (this.isDisposed) {
      return;
    }
    const changed = await this.loadExperiments().then(() => this.reload(true));
    // Backoff: double the wait while nothing changes, back to fast when something does.
    this.delay = changed ? FAST_MS : Math.min(this.delay * 2, SLOW_MS);
    if (!document.hidden || this.delay < SLOW_MS) {
      this.schedule(this.delay);
    }
  }

  private async loadExperiments(): Promise<void> {
    try {
      this.experiments = await api.experiments();
    } catch (error) {
      this.showError(error);
      return;
    }
    const known = this.experiments.some(e => e.experiment_id === this.experimentId);
    const newest = this.experiments[0]?.experiment_id ?? '';
    if (!known || (!this.pinned && newest !== this.experimentId)) {
      this.experimentId = newest;
      this.metric = '';
      this.signature = '';
    }
    clear(this.select);
    for (const exp of this.experiments) {
      const option = h('option', { attrs: { value: exp.experiment_id } }, exp.name);
      option.selected = exp.experiment_id === this.experimentId;
      this.select.appendChild(option);
    }
  }

  private chooseExperiment(id: string): void {
    this.experimentId = id;
    this.metric = '';
    this.metricPinned = false;
    void this.reload();
  }

  /** Load the first page again (plus pages already shown); true when anything changed. */
  private async reload(quiet = false): Promise<boolean> {
    if (!this.experimentId) {
      this.renderRuns();
      return false;
    }
    let page: IRunPage;
    try {
      page = await api.runs(this.experimentId, {
        limit: Math.max(PAGE, Math.min(this.runs.length, 200)),
        orderBy: this.orderBy(),
        filter: this.search.value.trim()
      });
    } catch (error) {
      if (!quiet) {
        this.showError(error);
      }
      return false;
    }
    this.message.textContent = '';
    const signature = JSON.stringify([page.total, page.runs.map(r => [r.run_id, r.status, r.metrics])]);
    const changed = signature !== this.signature;
    if (changed) {
      // New or changed runs may bring new metric names: refresh them (one cheap query).
      const sortedBy = this.metric;
      try {
        const keys = await api.keys(this.experimentId);
        this.updateMetrics(keys.metrics, keys.primary_metric);
      } catch {
        // keep the current metric list
      }
      if (this.metric !== sortedBy) {
        return this.reload(quiet); // the primary metric changed: fetch the page in its order
      }
    }
    this.signature = signature;
    this.runs = page.runs;
    this.total = page.total;
    if (changed) {
      this.renderRuns();
    }
    return changed;
  }

  private async loadMore(): Promise<void> {
    try {
      const page = await api.runs(this.experimentId, {
        offset: this.runs.length,
        limit: PAGE,
        orderBy: this.orderBy(),
        filter: this.search.value.trim()
      });
      this.runs = this.runs.concat(page.runs);
      this.total = page.total;
      this.renderRuns();
    } catch (error) {
      this.showError(error);
    }
  }

  private orderBy(): string {
    return this.metric ? `metrics.\`${this.metric}\` DESC` : 'attributes.start_time DESC';
  }

  private updateMetrics(keys: string[], primary: string | null): void {
    if (!this.metricPinned && keys.length) {
      this.metric = primary ?? keys[0];
    }
    const current = Array.from(this.metricSelect.options).map(o => o.value);
    const wanted = ['', ...keys];
    if (JSON.stringify(current) !== JSON.stringify(wanted)) {
      clear(this.metricSelect);
      for (const key of wanted) {
        this.metricSelect.appendChild(h('option', { attrs: { value: key } }, key || 'newest first'));
      }
    }
    this.metricSelect.value = this.metric;
  }

  private renderRuns(): void {
    clear(this.list);
    for (const run of this.runs) {
      const name = run.run_name || run.run_id.slice(0, 8);
      const value = this.metric ? run.metrics[this.metric] : undefined;
      const item = h(
        'li',
        { className: 'jp-mlops-run', title: run.run_id, attrs: { 'data-run-id': run.run_id, tabindex: '0' } },
        h('div', { className: 'jp-mlops-run-head' }, h('span', { className: 'jp-mlops-run-name' }, name), statusBadge(run.status)),
        h(
          'div',
          { className: 'jp-mlops-run-meta' },
          h('span', {}, when(run.start_time)),
          this.metric ? h('span', { className: 'jp-mlops-run-metric' }, `${this.metric} ${num(value)}`) : null
        )
      );
      item.addEventListener('click', () => this.openRun(run.run_id));
      item.addEventListener('keydown', event => {
        if (event.key === 'Enter') {
          this.openRun(run.run_id);
        }
      });
      this.list.appendChild(item);
    }
    if (!this.runs.length) {
      this.list.appendChild(h('li', { className: 'jp-mlops-empty' }, this.experimentId ? 'No runs yet.' : 'No experiments yet.'));
    }
    void this.markStale();
    clear(this.footer);
    this.footer.append(h('span', {}, `${this.runs.length} of ${this.total} runs`));
    if (this.runs.length < this.total) {
      this.footer.append(button('Load more', () => void this.loadMore()));
    }
  }

  /** Add a "stale" badge (reasons in its tooltip) to runs whose slice code or data changed. */
  private async markStale(): Promise<void> {
    const ids = this.runs.slice(0, 200).map(r => r.run_id);
    if (!ids.length || !this.experimentId) {
      return;
    }
    let marks: Record<string, IStale>;
    try {
      marks = await api.stale(this.experimentId, ids);
    } catch {
      return; // a hint only: the list stays as it is
    }
    for (const item of Array.from(this.list.querySelectorAll('li.jp-mlops-run'))) {
      const mark = marks[(item as HTMLElement).dataset.runId ?? ''];
      const head = item.querySelector('.jp-mlops-run-head');
      if (mark?.stale && head && !head.querySelector('.jp-mlops-stale')) {
        head.appendChild(h('span', { className: 'jp-mlops-stale', title: mark.reasons.join('\n') }, 'stale'));
      }
    }
  }

  private showError(error: unknown): void {
    this.message.textContent = error instanceof Error ? error.message : String(error);
  }
}
