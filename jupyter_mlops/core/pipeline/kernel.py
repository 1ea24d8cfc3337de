"""Executing a notebook with nbclient: the kernel's environment, progress, and where it failed.

The only module that drives nbclient; ``runner`` decides what runs, this runs it. Notebook
files are read by ``core.notebook_file`` (the one reader).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_mlops.core.errors import UsageProblem, message_line

if TYPE_CHECKING:
    from nbformat import NotebookNode

CellCallback = Callable[[int, int], None]  # (code cells done, code cells in total)
Silent = Callable[[str, Mapping[str, str]], Awaitable["dict[str, str] | None"]]
BeforeCells = Callable[[Silent], Awaitable[None]]


@dataclass
class CellFailure:
    """Where and how the notebook raised."""

    cell_index: int  # position in the executed notebook (0-based)
    cell_id: str | None
    first_line: str
    ename: str
    evalue: str

    def describe(self) -> str:
        """One line naming the cell and the error."""
        ident = f" (id {self.cell_id})" if self.cell_id else ""
        where = f"cell {self.cell_index + 1}{ident}"
        if self.first_line:
            where += f" `{self.first_line}`"
        return f"notebook raised in {where}: {self.ename}: {self.evalue}".rstrip(": ")


def check_kernel(nb: NotebookNode, kernel_name: str | None) -> None:
    """UsageProblem, before any run exists, when the notebook's kernel is not installed."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    name = kernel_name or nb.metadata.get("kernelspec", {}).get("name") or "python3"
    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel as exc:
        raise UsageProblem(f"no Jupyter kernel named {name!r} is installed") from exc


def execute(
    nb: NotebookNode,
    cwd: Path,
    env: Mapping[str, str],
    *,
    timeout: float | None = None,
    kernel_name: str | None = None,
    on_cell: CellCallback | None = None,
    before_cells: BeforeCells | None = None,
) -> CellFailure | None:
    """Run every cell with nbclient in ``cwd``; the failure (cell + error) or None.

    ``before_cells`` is awaited once the kernel is up, before the first cell; it gets a
    ``silent(code, expressions)`` coroutine that runs code in the kernel without a cell or an
    execution count and returns the ``repr`` texts of the expressions (None on error).
    """
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient import NotebookClient
    from nbclient.exceptions import CellControlSignal, CellExecutionError, DeadKernelError

    total = sum(1 for c in nb.cells if c.cell_type == "code" and c.source.strip())
    state = {"index": 0, "done": 0, "announced": before_cells is None}

    async def started(cell: Any, cell_index: int) -> None:
        state["index"] = cell_index
        if not state["announced"]:
            state["announced"] = True
            assert before_cells is not None
            await before_cells(lambda code, expressions: _silent(client, code, expressions))

    def executed(cell: Any, cell_index: int, execute_reply: Any) -> None:
        state["done"] += 1
        if on_cell is not None:
            on_cell(state["done"], total)

    options: dict[str, Any] = {"timeout": timeout, "resources": {"metadata": {"path": str(cwd)}}}
    if kernel_name:
        options["kernel_name"] = kernel_name
    if _curve_available():
        # encrypt the kernel's sockets where kernel and libzmq support it (ipykernel otherwise
        # warns on every run that its TCP traffic is plain text)
        from traitlets.config import Config

        options["config"] = Config({"KernelManager": {"transport_encryption": "auto"}})
    client = NotebookClient(nb, on_cell_start=started, on_cell_executed=executed, **options)
    try:
        client.execute(env=dict(env))
    except CellExecutionError as exc:
        return _failure(nb, state["index"], exc.ename, exc.evalue)
    except DeadKernelError as exc:
        return _failure(nb, state["index"], "DeadKernelError", str(exc) or "the kernel died")
    except CellControlSignal as exc:  # CellTimeoutError
        return _failure(nb, state["index"], type(exc).__name__, message_line(exc))
    except NoSuchKernel as exc:
        raise UsageProblem(f"no Jupyter kernel named {exc.name!r} is installed") from exc
    return None


def _curve_available() -> bool:
    """True when jupyter_client can provision CurveZMQ keys for kernels (8.10+, libsodium)."""
    try:
        import zmq
        from jupyter_client.manager import KernelManager
    except ImportError:
        return False
    return KernelManager.class_traits().get("transport_encryption") is not None and zmq.has("curve")


async def _silent(client: Any, code: str, expressions: Mapping[str, str]) -> dict[str, str] | None:
    """Run ``code`` silently in the kernel; the expressions' reprs, or None when it raised."""
    msg_id = client.kc.execute(
        code, silent=True, store_history=False, user_expressions=dict(expressions)
    )
    reply = await client.async_wait_for_reply(msg_id)
    if reply is None or reply["content"].get("status") != "ok":
        return None
    values = reply["content"].get("user_expressions", {})
    return {
        name: value.get("data", {}).get("text/plain", "")
        for name, value in values.items()
        if value.get("status") == "ok"
    }


def _failure(nb: NotebookNode, index: int, ename: str, evalue: str) -> CellFailure:
    cell = nb.cells[index] if 0 <= index < len(nb.cells) else None
    source = cell.source if cell is not None else ""
    first = next((line.strip() for line in source.splitlines() if line.strip()), "")
    if len(first) > 60:
        first = first[:57] + "..."
    evalue = " ".join(str(evalue).split())
    return CellFailure(index, cell.get("id") if cell is not None else None, first, ename, evalue)
