"""From a spec to ordered, idempotent steps per node; what each step reads and changes; the export."""

# Temporary: the names of the old flat module, while code written against it is moved over.
from octotui.plan.build import *  # noqa: F403
