"""ipywidgets views over core results: Python computes, the front end only renders."""
