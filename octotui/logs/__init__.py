"""Reviewing logs: run logs, node logs and large files, fast, without ever reading a whole file into memory.

Why a package of its own: an Octopus node's ``OctopusServer.txt`` grows to hundreds of megabytes, and the
answer to a failed install is usually in it, in a step's output or in the MSI log. The viewer must open such
a file at once and stay fast, so everything here works on byte offsets and reads only the lines asked for.

- ``encoding``: UTF-8 (with a cp1252 fallback per line), UTF-16 with or without a BOM, as Windows tools write.
- ``logfile``: one open file read by offset (``pread``), which notices when it grows, shrinks or is replaced.
- ``index``: a sparse line index (newlines counted per 64 KiB block) built in batches, from the end first.
- ``formats``: the formats we know (Octopus's NLog layout, the run journal, MSI verbose logs, plain text):
  levels, entries that span lines (stack traces), timestamps.
- ``rows``: which lines a view shows, as runs (a level filter, a merged timeline).
- ``levelfilter``, ``merge``, ``search``: the level filter, several files in one timeline, text and regex search.
- ``document``: one file with its index, ready for a viewer (lines by number, follow, roll).
- ``sources``: what there is to review (runs, their journal and step logs, cached node logs) and where a
  failed step's log shows its failure.
- ``timeline``: which install step was running on a node when a log line was written.
- ``fetch``: a node's logs over WinRM, the tail first, the rest on demand, mirrored under the run;
  ``access``: how to reach the nodes (the answers' WinRM settings and the password).
- ``view``: what a viewer shows, as rows (one file, or several merged), with filter, search and follow.

Nothing here imports Textual: the screens (``octotui.screens.logs``) and the command line are faces on it.
"""
