"""From a spec to ordered, idempotent steps per node; what each step reads and changes; the export."""
