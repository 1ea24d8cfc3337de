// The MLOps panel of the left sidebar: a toolbar and two tabs (Runs, Models).
import { LabIcon, refreshIcon, Toolbar, ToolbarButton } from '@jupyterlab/ui-components';
import { Panel, TabPanel, Widget } from '@lumino/widgets';

import { api, IDelivery } from './api';
import { ModelsView } from './modelsview';
import { RunsView } from './runsview';

const DELIVERY_POLL_MS = 5000;

/** The text of the journal indicator: empty when nothing waits. */
export function deliveryText(status: IDelivery): string {
  if (status.failing) {
    return `${status.pending} waiting · delivery failing: ${status.failing}`;
  }
  return status.pending > 0 ? `${status.pending} delivering…` : '';
}

const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <rect x="3" y="13" width="4" height="8" rx="1"/>
    <rect x="10" y="8" width="4" height="13" rx="1"/>
    <rect x="17" y="3" width="4" height="18" rx="1"/>
  </g>
</svg>`;

export const mlopsIcon = new LabIcon({ name: 'jupyter-mlops:icon', svgstr: ICON_SVG });

/** Left-sidebar panel: experiments and runs, registered models. */
export class MlopsSidebar extends Panel {
  readonly runs: RunsView;
  readonly models: ModelsView;
  readonly delivery: Widget;
  private _poll: number | undefined;

  constructor(openRun: (runId: string) => void, insert: (code: string) => Promise<boolean>) {
    super();
    this.id = 'jupyter-mlops-sidebar';
    this.addClass('jp-mlops-sidebar');
    this.title.icon = mlopsIcon;
    this.title.caption = 'MLOps: experiments, runs and models';
    this.runs = new RunsView(openRun);
    this.models = new ModelsView(insert, openRun);
    const toolbar = new Toolbar();
    toolbar.addClass('jp-mlops-toolbar');
    const heading = new Widget({ node: document.createElement('span') });
    heading.node.textContent = 'MLOps';
    heading.addClass('jp-mlops-heading');
    toolbar.addItem('title', heading);
    this.delivery = new Widget({ node: document.createElement('span') });
    this.delivery.addClass('jp-mlops-delivery');
    toolbar.addItem('delivery', this.delivery);
    toolbar.addItem('spacer', Toolbar.createSpacerItem());
    toolbar.addItem(
      'refresh',
      new ToolbarButton({
        icon: refreshIcon,
        tooltip: 'Refresh experiments, runs and models',
        onClick: () => void this.refresh()
      })
    );
    const tabs = new TabPanel();
    tabs.addClass('jp-mlops-tabs');
    tabs.addWidget(this.runs);
    tabs.addWidget(this.models);
    tabs.currentChanged.connect(() => void this.refresh());
    this.addWidget(toolbar);
    this.addWidget(tabs);
    this._poll = window.setInterval(() => void this.refreshDelivery(), DELIVERY_POLL_MS);
    void this.refreshDelivery();
  }

  /** Reload both tabs and the delivery indicator now. */
  async refresh(): Promise<void> {
    await Promise.all([this.runs.refresh(), this.models.refresh(), this.refreshDelivery()]);
  }

  /** Show how many tracked runs wait in the journal, and why delivery fails (as text). */
  async refreshDelivery(): Promise<void> {
    const node = this.delivery.node;
    try {
      const status = await api.delivery();
      node.textContent = deliveryText(status);
      node.title = status.failing
        ? `Tracked runs wait in the journal; delivery failing: ${status.failing}`
        : 'Tracked runs not delivered to the tracking store yet';
      node.classList.toggle('jp-mlops-delivery-failing', Boolean(status.failing));
    } catch {
      node.textContent = '';
    }
  }

  dispose(): void {
    if (this._poll !== undefined) {
      window.clearInterval(this._poll);
      this._poll = undefined;
    }
    super.dispose();
  }
}
