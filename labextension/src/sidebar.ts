// The MLOps panel of the left sidebar: a toolbar and two tabs (Runs, Models).
import { LabIcon, refreshIcon, Toolbar, ToolbarButton } from '@jupyterlab/ui-components';
import { Panel, TabPanel, Widget } from '@lumino/widgets';

import { ModelsView } from './modelsview';
import { RunsView } from './runsview';

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
  }

  /** Reload both tabs now. */
  async refresh(): Promise<void> {
    await Promise.all([this.runs.refresh(), this.models.refresh()]);
  }
}
