// jupyter-mlops JupyterLab extension: MLOps sidebar, run panels, code-inserting commands.
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';

import { insertCode } from './insert';
import { RunPanel } from './runpanel';
import { MlopsSidebar } from './sidebar';

const OPEN_RUN = 'jupyter-mlops:open-run';
const REFRESH = 'jupyter-mlops:refresh';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-mlops:sidebar',
  description: 'MLOps sidebar: experiments, runs and models of the tracking store.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    const insert = (code: string) => insertCode(app, notebooks, code);
    const runPanels = new WidgetTracker<MainAreaWidget<RunPanel>>({ namespace: 'jupyter-mlops-run' });

    app.commands.addCommand(OPEN_RUN, {
      label: 'Open MLflow run',
      execute: args => {
        const runId = String(args.runId ?? '');
        const open = runPanels.find(w => w.content.runId === runId);
        if (open) {
          app.shell.activateById(open.id);
          void open.content.load();
          return;
        }
        const panel = new MainAreaWidget({ content: new RunPanel(runId, insert) });
        panel.id = `jupyter-mlops-run-panel-${runId}`;
        panel.title.label = panel.content.title.label;
        panel.content.title.changed.connect(() => (panel.title.label = panel.content.title.label));
        void runPanels.add(panel);
        app.shell.add(panel, 'main');
        app.shell.activateById(panel.id);
      }
    });

    const sidebar = new MlopsSidebar(runId => void app.commands.execute(OPEN_RUN, { runId }), insert);
    app.commands.addCommand(REFRESH, {
      label: 'Refresh MLOps sidebar',
      execute: () => sidebar.refresh()
    });
    palette?.addItem({ command: REFRESH, category: 'MLOps' });
    app.shell.add(sidebar, 'left', { rank: 650 });
    restorer?.add(sidebar, sidebar.id);
    restorer?.restore(runPanels, {
      command: OPEN_RUN,
      args: w => ({ runId: w.content.runId }),
      name: w => w.content.runId
    });

    // Refresh soon after any notebook's kernel goes idle: a tracked cell may have just finished.
    notebooks.widgetAdded.connect((_, panel) => {
      panel.sessionContext.statusChanged.connect((_ctx, status) => {
        if (status === 'idle') {
          sidebar.runs.kick();
        }
      });
    });
  }
};

export default plugin;
