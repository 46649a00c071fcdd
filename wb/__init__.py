"""The eager-split workbench: source -> tree -> build -> boot -> run -> results -> report."""
