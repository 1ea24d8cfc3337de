// Main-area panel for one run: details, cell source, metric charts and code-inserting buttons.
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { api, IRunDetail, IRunSummary } from './api';
import { metricChart } from './chart';
import { button, clear, h, num, statusBadge, when } from './dom';
import { checkoutCode, compareCode, loadModelCode, reproduceCode } from './pyquote';

const CODE_ARTIFACT = 'cell/source.py';

function table(rows: [string, string][], empty: string): HTMLElement {
  if (!rows.length) {
    return h('p', { className: 'jp-mlops-dim' }, empty);
  }
  const body = h('tbody', {});
  for (const [key, value] of rows) {
    body.appendChild(h('tr', {}, h('th', {}, key), h('td', {}, value)));
  }
  return h('table', { className: 'jp-mlops-table' }, body);
}

/** Body of the "Compare with…" dialog: checkboxes over other runs of the experiment. */
class PickRuns extends Widget {
  constructor(runs: IRunSummary[]) {
    super();
    this.addClass('jp-mlops-pick');
    for (const run of runs) {
      const box = h('input', { attrs: { type: 'checkbox', value: run.run_id } });
      this.node.appendChild(
        h('label', { className: 'jp-mlops-pick-row' }, box, ' ', run.run_name || run.run_id, ' ', h('span', { className: 'jp-mlops-dim' }, when(run.start_time)))
      );
    }
    if (!runs.length) {
      this.node.appendChild(h('p', {}, 'No other runs in this experiment.'));
    }
  }

  getValue(): string[] {
    return Array.from(this.node.querySelectorAll('input:checked')).map(b => (b as HTMLInputElement).value);
  }
}

/** Details of one run, rendered as text (names and values are never parsed as HTML). */
export class RunPanel extends Widget {
  constructor(
    readonly runId: string,
    private readonly insert: (code: string) => Promise<boolean>
  ) {
    super();
    this.id = `jupyter-mlops-run-${runId}`;
    this.addClass('jp-mlops-runpanel');
    this.title.label = `Run ${runId.slice(0, 8)}`;
    this.title.closable = true;
    void this.load();
  }

  /** Fetch the run again and re-render. */
  async load(): Promise<void> {
    let run: IRunDetail;
    try {
      run = await api.run(this.runId);
    } catch (error) {
      clear(this.node);
      this.node.appendChild(h('p', { className: 'jp-mlops-message' }, (error as Error).message));
      return;
    }
    this.render(run);
    void this.loadStale(run);
  }

  private readonly staleNote = h('p', { className: 'jp-mlops-stale-note' });

  /** "Stale: <reasons>" under the actions when the run's slice code or data changed since. */
  private async loadStale(run: IRunDetail): Promise<void> {
    try {
      const mark = (await api.stale(run.experiment_id, [run.run_id]))[run.run_id];
      this.staleNote.textContent = mark?.stale ? `Stale: ${mark.reasons.join('; ')}` : '';
    } catch {
      this.staleNote.textContent = '';
    }
  }

  private render(run: IRunDetail): void {
    clear(this.node);
    const name = run.run_name || run.run_id;
    this.title.label = `Run ${name}`;
    this.title.caption = run.run_id;
    const hasModel = run.artifacts.some(a => a.path === 'model' || a.path.startsWith('model/'));
    const source = run.tags['mlflow.source.name'];
    this.node.append(
      h('h2', { className: 'jp-mlops-run-title' }, name, ' ', statusBadge(run.status)),
      h('p', { className: 'jp-mlops-dim' }, `${run.run_id} · started ${when(run.start_time)}`, source ? ` · ${source}` : ''),
      h(
        'div',
        { className: 'jp-mlops-actions' },
        button('Insert code to load this model', () => void this.insert(loadModelCode(`runs:/${run.run_id}/model`)), {
          accept: true,
          title: hasModel ? 'Adds a cell that loads runs:/<id>/model' : 'This run has no model/ artifact'
        }),
        button('Compare with…', () => void this.compareWith(run)),
        button('Check out its data', () => void this.insert(checkoutCode(run.run_id)), {
          title: 'Adds a %dvc_checkout cell restoring the data versions of this run'
        }),
        button('Reproduce', () => void this.insert(reproduceCode(run.run_id)), {
          title: 'Adds a %mlops_reproduce cell: re-runs the code slice of this run in a temporary git worktree'
        })
      ),
      this.staleNote,
      h('h3', {}, 'Metrics'),
      table(Object.entries(run.metrics).map(([k, v]) => [k, num(v)]), 'No metrics.')
    );
    // Charts for metrics logged as histories (more than one step); single values are in the table.
    const charts = h('div', { className: 'jp-mlops-charts' });
    this.node.appendChild(charts);
    for (const key of Object.keys(run.metrics).slice(0, 24)) {
      void api.metricHistory(run.run_id, key).then(points => {
        if (points.length > 1) {
          charts.appendChild(metricChart(key, points));
        }
      }, () => undefined);
    }
    this.node.append(
      h('h3', {}, 'Parameters'),
      table(Object.entries(run.params), 'No parameters.'),
      h('h3', {}, 'Data'),
      table(run.data_versions.map(d => [d.name, `${d.source} @ ${d.digest}`]), 'No data versions.')
    );
    if (run.artifacts.some(a => a.path === CODE_ARTIFACT)) {
      const code = h('pre', { className: 'jp-mlops-code jp-mlops-cell-source' }, '…');
      this.node.append(h('h3', {}, 'Code'), code);
      api.artifactText(run.run_id, CODE_ARTIFACT).then(
        text => (code.textContent = text),
        error => (code.textContent = (error as Error).message)
      );
    }
    this.renderFigures(run);
    const tags = Object.entries(run.tags).filter(([k]) => !k.startsWith('mlflow.log-model'));
    this.node.append(
      h('h3', {}, 'Artifacts'),
      this.artifactList(run),
      h('details', {}, h('summary', {}, `Tags (${tags.length})`), table(tags, 'No tags.'))
    );
  }

  /** Artifact files; a click shows a text file's content below the list (as text). */
  private artifactList(run: IRunDetail): HTMLElement {
    const files = run.artifacts.filter(a => !a.is_dir);
    const box = h('div', { className: 'jp-mlops-artifacts' });
    if (!files.length) {
      box.appendChild(h('p', { className: 'jp-mlops-dim' }, 'No artifacts.'));
      return box;
    }
    const viewer = h('pre', { className: 'jp-mlops-code jp-mlops-artifact-view' });
    viewer.hidden = true;
    const list = h('ul', { className: 'jp-mlops-artifact-list' });
    for (const file of files) {
      const size = file.size === null ? '' : ` (${file.size} B)`;
      const link = h('a', { attrs: { href: '#', 'data-path': file.path } }, file.path);
      link.addEventListener('click', event => {
        event.preventDefault();
        viewer.hidden = false;
        viewer.textContent = '…';
        api.artifactText(run.run_id, file.path).then(
          text => (viewer.textContent = text),
          error => (viewer.textContent = (error as Error).message)
        );
      });
      list.appendChild(h('li', {}, link, size));
    }
    box.append(list, viewer);
    if (run.artifacts_truncated) {
      box.appendChild(h('p', { className: 'jp-mlops-dim' }, 'Only the first entries are listed.'));
    }
    return box;
  }

  private renderFigures(run: IRunDetail): void {
    const images = run.artifacts.filter(a => !a.is_dir && /\.(png|jpe?g|gif|webp)$/i.test(a.path)).slice(0, 8);
    if (!images.length) {
      return;
    }
    const box = h('div', { className: 'jp-mlops-figures' });
    this.node.append(h('h3', {}, 'Figures'), box);
    for (const image of images) {
      void api.artifactBlob(run.run_id, image.path).then(blob => {
        const img = h('img', { title: image.path, attrs: { alt: image.path } });
        img.src = URL.createObjectURL(blob);
        box.appendChild(img);
      }, () => undefined);
    }
  }

  private async compareWith(run: IRunDetail): Promise<void> {
    let others: IRunSummary[];
    try {
      const page = await api.runs(run.experiment_id, { limit: 50, orderBy: 'attributes.start_time DESC' });
      others = page.runs.filter(r => r.run_id !== run.run_id);
    } catch (error) {
      await showErrorMessage('Cannot list runs', (error as Error).message);
      return;
    }
    const result = await showDialog({
      title: 'Compare with…',
      body: new PickRuns(others),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Insert comparison' })]
    });
    if (result.button.accept) {
      await this.insert(compareCode([run.run_id, ...(result.value ?? [])]));
    }
  }
}
