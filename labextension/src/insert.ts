// Insert generated code as a new cell below the active cell of the current notebook.
import { JupyterFrontEnd } from '@jupyterlab/application';
import { showErrorMessage } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';

/** Put `code` in a new code cell under the active cell; tell the user when no notebook is open. */
export async function insertCode(
  app: JupyterFrontEnd,
  tracker: INotebookTracker,
  code: string
): Promise<boolean> {
  const panel = tracker.currentWidget;
  if (!panel) {
    await showErrorMessage('No notebook', 'Open a notebook to insert code into.');
    return false;
  }
  const notebook = panel.content;
  NotebookActions.insertBelow(notebook);
  const cell = notebook.activeCell;
  if (!cell) {
    return false;
  }
  cell.model.sharedModel.setSource(code);
  app.shell.activateById(panel.id);
  return true;
}
