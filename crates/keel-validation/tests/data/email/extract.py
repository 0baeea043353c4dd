# Extracts every input of python-email-validator's tests/test_syntax.py and records
# email-validator's own verdict for it (default options, check_deliverability=False).
#
# Usage: python -m venv v && v/bin/pip install email-validator==2.4.0
#        v/bin/python extract.py path/to/email_validator-2.4.0/tests/test_syntax.py > corpus.jsonl
import json, sys, types
collected = []
class Mark:
    def parametrize(self, names, values, **kw):
        def deco(f):
            collected.append((f.__name__, names, values))
            return f
        return deco
fake = types.ModuleType("pytest"); fake.mark = Mark()
class Raises:
    def __init__(self,*a,**k): pass
fake.raises = Raises
sys.modules["pytest"] = fake
src = open(sys.argv[1]).read()
g = {"__name__": "t"}
exec(compile(src, "test_syntax.py", "exec"), g)
from email_validator import validate_email, EmailNotValidError
seen = set()
out = []
for fname, names, values in collected:
    for v in values:
        inp = v if isinstance(v, str) else v[0]
        if inp in seen: continue
        seen.add(inp)
        try:
            inp.encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates: not representable in a Rust `str`, so not testable.
            print("skipped (not UTF-8):", ascii(inp), file=sys.stderr)
            continue
        try:
            r = validate_email(inp, check_deliverability=False)
            row = {"group": fname, "input": inp, "valid": True, "normalized": r.normalized}
        except EmailNotValidError as e:
            row = {"group": fname, "input": inp, "valid": False, "error": str(e)}
        # The same with quoted local parts and [domain literals] allowed.
        try:
            validate_email(inp, check_deliverability=False, allow_quoted_local=True, allow_domain_literal=True)
            row["valid_extended"] = True
        except EmailNotValidError:
            row["valid_extended"] = False
        out.append(row)
for o in out:
    print(json.dumps(o, ensure_ascii=True))
