"""Versioned data: DVC snapshots tied to runs, and the way back to a run's data.

- ``dvc_files``  ``.dvc`` files and ``DataVersion`` (plain YAML + git, no DVC import)
- ``dvc_repo``   the DVC border: the only module importing ``dvc``; its errors become ours
- ``targets``    which paths a snapshot may version (one-line refusals)
- ``tables``     rows, columns and schema of a tabular file
- ``snapshot``   ``snapshot()``: version, commit the ``.dvc`` files, link to a run
- ``lineage``    data versions as MLflow dataset inputs; ``data_lineage()``; a cell's paths
- ``verify``     a run's recorded version checked against git before checkout writes
- ``checkout``   ``checkout_data()``: restore the data a run used

Nothing here imports ``core.tracking`` (tracking imports data, never the other way).
"""
