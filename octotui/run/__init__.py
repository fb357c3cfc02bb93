"""A run: prepare, the detached runner, the executor, the journal, the run store, locks and progress."""
