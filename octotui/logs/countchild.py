"""The child process of ``countproc``: count the matching lines of the range it is given (see there why)."""

from __future__ import annotations

import json
import sys

from octotui.logs.document import LogDocument
from octotui.logs.encoding import Encoding
from octotui.logs.search import Matcher, Query, count_range


def main() -> int:
    req = json.loads(sys.stdin.read())
    fields = req["encoding"]
    encoding = Encoding(str(fields["name"]), int(fields["bom"]), bytes.fromhex(str(fields["newline"])),
                        int(fields["unit"]))
    with LogDocument(req["path"], encoding=encoding) as doc:
        matcher = Matcher(Query(req["text"], regex=req["regex"], case=req["case"]), encoding)
        n = count_range(doc, matcher, int(req["start"]), int(req["end"]))
    sys.stdout.write(f"{n}\n" if n is not None else "")
    return 0 if n is not None else 1


if __name__ == "__main__":
    sys.exit(main())
